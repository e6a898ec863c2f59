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
    /// Build an image with buildah in a configuration the preflight chose for this machine,
    /// optionally push it, and write a result file. Exit codes: see the README.
    Build(Box<BuildArgs>),
    /// Remove per-run storage roots left by runs whose process is gone.
    Gc(GcArgs),
    /// Print shell completions (for packaging).
    #[command(hide = true)]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page in roff (for packaging).
    #[command(hide = true)]
    Man,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Progress lines for a terminal.
    Human,
    /// Timestamped plain lines (Jenkins, files).
    Plain,
    /// One JSON object per line, for log shipping.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// Build context directory.
    #[arg(
        value_name = "CONTEXT",
        default_value = ".",
        env = "BUILDRUNNER_CONTEXT"
    )]
    pub context: PathBuf,
    /// Containerfile (default: CONTEXT/Containerfile, else CONTEXT/Dockerfile).
    #[arg(
        short = 'f',
        long = "file",
        value_name = "FILE",
        env = "BUILDRUNNER_FILE"
    )]
    pub file: Option<PathBuf>,
    /// Full image reference to tag (and push) the image as; repeatable. The env var takes a
    /// comma-separated list.
    #[arg(
        short = 't',
        long = "tag",
        value_name = "REF",
        env = "BUILDRUNNER_TAG",
        value_delimiter = ','
    )]
    pub tags: Vec<String>,
    /// Build argument KEY=VALUE; repeatable. Without the flag, $BUILDRUNNER_BUILD_ARG holds a
    /// comma-separated list (a value given on the command line is never split).
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// Build stage to stop at.
    #[arg(long, value_name = "STAGE", env = "BUILDRUNNER_TARGET")]
    pub target: Option<String>,
    /// Image label KEY=VALUE; repeatable. Without the flag, $BUILDRUNNER_LABEL holds a
    /// comma-separated list.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Build secret `id=ID,src=FILE`, available to `RUN --mount=type=secret,id=ID` and never
    /// stored in a layer; repeatable. Without the flag, $BUILDRUNNER_SECRET holds a
    /// semicolon-separated list.
    #[arg(long = "secret", value_name = "id=ID,src=FILE")]
    pub secrets: Vec<String>,
    /// Target platform, passed to buildah (`linux/amd64`…); other architectures need qemu.
    #[arg(long, value_name = "OS/ARCH", env = "BUILDRUNNER_PLATFORM")]
    pub platform: Option<String>,
    /// Push every tag after a successful build.
    #[arg(long, env = "BUILDRUNNER_PUSH")]
    pub push: bool,
    /// Registry repository for the layer cache (`--cache-from`/`--cache-to`): a fresh
    /// allocation with empty storage still reuses layers.
    #[arg(long, value_name = "REPO", env = "BUILDRUNNER_CACHE_REPO")]
    pub cache_repo: Option<String>,
    /// Storage root to build in (kept afterwards). Default: a fresh per-run root, removed
    /// after the run.
    #[arg(long, value_name = "DIR", env = "BUILDRUNNER_STORAGE_ROOT")]
    pub storage_root: Option<PathBuf>,
    /// Registry credentials file (auth.json). Default: $REGISTRY_AUTH_FILE, then the
    /// containers lookup order.
    #[arg(long, value_name = "FILE", env = "BUILDRUNNER_AUTHFILE")]
    pub authfile: Option<PathBuf>,
    /// Directory of CA certificates (`ca.crt`) for the registries.
    #[arg(long, value_name = "DIR", env = "BUILDRUNNER_CERT_DIR")]
    pub cert_dir: Option<PathBuf>,
    /// Verify registry TLS certificates.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set, env = "BUILDRUNNER_TLS_VERIFY")]
    pub tls_verify: bool,
    /// Where to write the result JSON. Default: $NOMAD_ALLOC_DIR/buildrunner-result.json in
    /// Nomad, else ./buildrunner-result.json.
    #[arg(long, value_name = "FILE", env = "BUILDRUNNER_RESULT")]
    pub result: Option<PathBuf>,
    /// Print the result as text or JSON on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text, env = "BUILDRUNNER_FORMAT")]
    pub format: Format,
    /// Log format on stderr (default: human on a terminal, plain otherwise).
    #[arg(long, value_enum, env = "BUILDRUNNER_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Keep the per-run storage root after the run.
    #[arg(long, env = "BUILDRUNNER_KEEP_STORAGE")]
    pub keep_storage: bool,
    /// Set every timestamp in the image to this Unix time (reproducible builds).
    #[arg(long, value_name = "EPOCH", env = "BUILDRUNNER_TIMESTAMP")]
    pub timestamp: Option<u64>,
}

#[derive(Debug, clap::Args)]
pub struct GcArgs {
    /// Print what would be removed, remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also remove runs kept with `--keep-storage`.
    #[arg(long)]
    pub include_kept: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Storage root to examine (default: where builds put theirs, $BUILDRUNNER_WORK_DIR or
    /// /var/lib/containers/buildrunner for root, ~/.local/share/buildrunner otherwise).
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
