//! The one error renderer: `error: …`, `  Caused by: …` lines, a blank line, `hint: …`.
//! No trailing period; readable without colour.

use std::io::Write;

/// An error a user sees: what went wrong, why, what to do, and the exit code.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub causes: Vec<String>,
    pub hint: Option<String>,
    pub exit_code: i32,
}

impl CliError {
    pub fn new(exit_code: i32, message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            causes: Vec::new(),
            hint: None,
            exit_code,
        }
    }
    pub fn cause(mut self, cause: impl ToString) -> Self {
        self.causes.push(cause.to_string());
        self
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

pub fn render(err: &CliError) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "error: {}", err.message);
    for c in &err.causes {
        let _ = writeln!(e, "  Caused by: {c}");
    }
    if let Some(h) = &err.hint {
        let _ = writeln!(e, "\nhint: {h}");
    }
}
