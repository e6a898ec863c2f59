//! One module per verb.

mod doctor;

use crate::cli::{Cli, Command};
use crate::error::CliError;

pub fn dispatch(cli: Cli) -> Result<i32, CliError> {
    match cli.command {
        Command::Doctor(args) => doctor::run(args),
    }
}
