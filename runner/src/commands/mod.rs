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
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "buildrunner", &mut std::io::stdout());
            Ok(crate::exit::OK)
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(cmd)
                .render(&mut std::io::stdout())
                .map_err(|e| {
                    CliError::new(crate::exit::USAGE, "cannot render the man page").cause(e)
                })?;
            Ok(crate::exit::OK)
        }
    }
}
