//! One module per verb.

mod build;
mod doctor;
mod gc;

use crate::cli::{Cli, Command};
use crate::error::CliError;

pub fn dispatch(cli: Cli) -> Result<i32, CliError> {
    match cli.command {
        Command::Doctor(args) => doctor::run(args),
        Command::Build(args) => build::run(&args),
        Command::Gc(args) => gc::run(&args),
    }
}
