//! Command-line interface. The doc comments are the help text; every option that can come
//! from the environment says so with `env = …`.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "buildrunner",
    version,
    about = "Build container images with buildah inside containers",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Probe this host or container, explain every finding with a one-line fix, and say how
    /// buildah can build here. Exit 0: builds can run; 1: blocked; 2: usage error.
    Doctor(DoctorArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Storage root to examine (default: containers/storage's default for this user).
    #[arg(long, value_name = "DIR", env = "BUILDRUNNER_STORAGE_ROOT")]
    pub storage_root: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text, env = "BUILDRUNNER_FORMAT")]
    pub format: Format,
    /// Also write a JUnit XML report, one testcase per check, for Jenkins' `junit` step.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Show details for passing checks too.
    #[arg(short, long)]
    pub verbose: bool,
    /// Record this host as a fixture tree in DIR (for preflight's tests).
    #[arg(long, value_name = "DIR", hide = true)]
    pub record: Option<PathBuf>,
    /// Description written to the fixture's ORIGIN file.
    #[arg(long, value_name = "TEXT", hide = true, requires = "record")]
    pub origin: Option<String>,
}
