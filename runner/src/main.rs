//! `buildrunner`: a thin dispatcher. The work happens in the `preflight` library; this
//! binary parses arguments, routes to one module per verb in `commands/`, and renders values
//! through `output/`. Exit codes live in `exit.rs`.

mod build;
mod cli;
mod commands;
mod error;
mod exit;
mod output;

use clap::Parser;

fn main() {
    // The probe child must be routed before anything else runs: it has to stay
    // single-threaded for `unshare(CLONE_NEWUSER)`.
    // args_os: a path that is not UTF-8 is still a path, never a panic.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args
        .get(1)
        .is_some_and(|a| a == preflight::PROBE_SUBCOMMAND)
    {
        std::process::exit(preflight::probe_child_main(&args[2..]));
    }
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout with exit 0, usage errors with exit 2.
            let _ = e.print();
            std::process::exit(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    let code = match commands::dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            error::render(&err);
            err.exit_code
        }
    };
    std::process::exit(code);
}
