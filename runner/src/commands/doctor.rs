//! `buildrunner doctor`: run the preflight on this machine and print its report.

use std::path::PathBuf;

use preflight::{PreflightOptions, Verdict};

use crate::cli::{DoctorArgs, Format};
use crate::error::CliError;
use crate::exit;
use crate::output;

/// The executable that answers the hidden probe subcommand: ourselves.
pub fn probe_exe() -> Option<PathBuf> {
    std::env::current_exe().ok()
}

pub fn run(args: DoctorArgs) -> Result<i32, CliError> {
    let opts = PreflightOptions::for_this_host(args.storage_root.clone(), probe_exe());
    let (facts, report) = preflight::run(&opts);
    if let Some(dir) = &args.record {
        let origin = args
            .origin
            .as_deref()
            .unwrap_or("recorded by buildrunner doctor --record");
        preflight::fixture::record(dir, &opts.roots, &facts.live, origin).map_err(|e| {
            CliError::new(exit::USAGE, "cannot record the fixture")
                .cause(e)
                .hint("pass a writable directory to `--record`")
        })?;
    }
    if let Some(path) = &args.junit {
        output::junit::write(path, &report).map_err(|e| {
            CliError::new(
                exit::USAGE,
                format!("cannot write the JUnit report to {}", path.display()),
            )
            .cause(e)
            .hint("pass a writable path to `--junit`")
        })?;
    }
    match args.format {
        Format::Json => output::print_json(&report),
        Format::Text => output::text::print_doctor(&report, args.verbose),
    }
    Ok(match report.verdict {
        Verdict::Blocked => exit::BLOCKED_OR_FAILED,
        _ => exit::OK,
    })
}
