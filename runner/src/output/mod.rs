//! The printers: text for humans, JSON for machines, JUnit for Jenkins, all built from the
//! same serialisable values. Data goes to stdout; a closed stdout (`| head`) is not an error.

pub mod junit;
pub mod text;

use std::io::Write;

use serde::Serialize;

/// Prints `value` as pretty JSON on stdout.
pub fn print_json<T: Serialize>(value: &T) {
    let mut out = std::io::stdout().lock();
    if let Ok(s) = serde_json::to_string_pretty(value) {
        let _ = writeln!(out, "{s}");
    }
}
