//! buildrunner's preflight: probes a host or container, turns what it finds into findings,
//! and decides how buildah can build there. It never prints; the `buildrunner` binary renders
//! its values.
//!
//! Data flows one way: [`host`] (files under /proc, /sys, /etc) and [`live`] (things done in
//! single-threaded children) → [`facts::Facts`] → [`checks::evaluate`] → findings →
//! [`decision::decide`] → [`report::DoctorReport`]. Every step is a value, so fixture trees
//! recorded from real hosts drive the same code as the real machine.

pub mod checks;
pub mod decision;
pub mod facts;
pub mod finding;
pub mod fixture;
pub mod host;
pub mod live;
pub mod report;
pub mod roots;

use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use decision::{Decision, Isolation, StorageDriver, Verdict};
pub use facts::Facts;
pub use finding::{Finding, Status, CHECK_IDS};
pub use live::child::{child_main as probe_child_main, PROBE_SUBCOMMAND};
pub use report::DoctorReport;
pub use roots::HostRoots;

/// Everything a preflight run needs to know.
#[derive(Debug, Clone)]
pub struct PreflightOptions {
    pub roots: HostRoots,
    pub live: live::LiveOptions,
}

/// containers/storage's default graph root for `euid`: `/var/lib/containers/storage` for
/// root, `$XDG_DATA_HOME/containers/storage` (or `~/.local/share/…`) otherwise.
pub fn default_storage_root(euid: u32) -> PathBuf {
    if euid == 0 {
        return PathBuf::from("/var/lib/containers/storage");
    }
    data_home()
        .unwrap_or_else(|| PathBuf::from(format!("/tmp/buildrunner-{euid}")))
        .join("containers/storage")
}

/// A non-empty environment variable as a path.
fn env_path(key: &str) -> Option<PathBuf> {
    std::env::var_os(key)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `$XDG_DATA_HOME`, else `~/.local/share`.
fn data_home() -> Option<PathBuf> {
    env_path("XDG_DATA_HOME").or_else(|| env_path("HOME").map(|h| h.join(".local/share")))
}

/// Where `buildrunner build` puts its per-run storage roots, and so what the doctor examines
/// by default: `$BUILDRUNNER_WORK_DIR`, else `/var/lib/containers/buildrunner` for root (the
/// volume in a runner container), else `$XDG_DATA_HOME/buildrunner` (or
/// `~/.local/share/buildrunner`).
pub fn default_work_dir(euid: u32) -> PathBuf {
    if let Some(d) = env_path("BUILDRUNNER_WORK_DIR") {
        return d;
    }
    if euid == 0 {
        return PathBuf::from("/var/lib/containers/buildrunner");
    }
    data_home()
        .unwrap_or_else(std::env::temp_dir)
        .join("buildrunner")
}

/// Where buildrunner caches small facts: `$BUILDRUNNER_CACHE_DIR`, `$XDG_CACHE_HOME/buildrunner`
/// or `~/.cache/buildrunner` (empty variables count as unset).
pub fn default_cache_dir() -> Option<PathBuf> {
    env_path("BUILDRUNNER_CACHE_DIR")
        .or_else(|| env_path("XDG_CACHE_HOME").map(|d| d.join("buildrunner")))
        .or_else(|| env_path("HOME").map(|h| h.join(".cache/buildrunner")))
}

/// Writes `bytes` to `path` atomically: a temp file beside it, then a rename, so a reader
/// (Jenkins, a concurrent run) never sees half a file.
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// The bound on each live probe (and on `buildah version`): `$BUILDRUNNER_PROBE_TIMEOUT_MS`,
/// default 5 s.
pub fn probe_timeout() -> Duration {
    std::env::var("BUILDRUNNER_PROBE_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(5))
}

impl PreflightOptions {
    /// Options for this machine: real roots, the given storage root (or where builds will
    /// put theirs, [`default_work_dir`]), probes run through `probe_exe`.
    pub fn for_this_host(storage_root: Option<PathBuf>, probe_exe: Option<PathBuf>) -> Self {
        let euid = nix::unistd::geteuid().as_raw();
        PreflightOptions {
            roots: HostRoots::default(),
            live: live::LiveOptions {
                storage_root: storage_root.unwrap_or_else(|| default_work_dir(euid)),
                probe_exe,
                probe_timeout: probe_timeout(),
                cache_dir: default_cache_dir(),
                buildah: None,
            },
        }
    }
}

/// Gathers all facts.
pub fn gather(opts: &PreflightOptions) -> Facts {
    let host = host::StaticFacts::read(&opts.roots);
    let live = live::gather(&host, &opts.live);
    Facts { host, live }
}

/// Turns facts into the doctor's report (pure).
pub fn assess(facts: &Facts, elapsed: Duration) -> DoctorReport {
    let checks = checks::evaluate(facts);
    let decision = decision::decide(facts, &checks);
    DoctorReport {
        schema: report::DOCTOR_SCHEMA.to_string(),
        verdict: decision.verdict,
        decision,
        checks,
        host: report::HostSummary::of(facts),
        elapsed_ms: (elapsed.as_secs_f64() * 1000.0 * 100.0).round() / 100.0,
    }
}

/// Gathers and assesses: the whole preflight.
pub fn run(opts: &PreflightOptions) -> (Facts, DoctorReport) {
    let start = Instant::now();
    let facts = gather(opts);
    let report = assess(&facts, start.elapsed());
    (facts, report)
}
