//! The result of a run, schema `buildrunner.result/v1` (documented in the README): written
//! atomically to the result file whatever happens after argument parsing, printed with
//! `--format json`, and later reported to Jenkins. Nothing secret goes in: log lines are
//! masked by the logger, and credentials never reach buildrunner's own values.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub const RESULT_SCHEMA: &str = "buildrunner.result/v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // QuotaExceeded and Denied arrive with their issues
pub enum RunStatus {
    Succeeded,
    BuildFailed,
    Blocked,
    #[allow(dead_code)] // quota enforcement arrives with its own issue
    QuotaExceeded,
    PushFailed,
    #[allow(dead_code)] // the admin policy arrives with its own issue
    Denied,
    Aborted,
    /// Bad input (exit 2); not in the list, added so a result is always written.
    Invalid,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::BuildFailed => "build_failed",
            RunStatus::Blocked => "blocked",
            RunStatus::QuotaExceeded => "quota_exceeded",
            RunStatus::PushFailed => "push_failed",
            RunStatus::Denied => "denied",
            RunStatus::Aborted => "aborted",
            RunStatus::Invalid => "invalid",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ImageOut {
    pub reference: String,
    /// Manifest digest in the registry (`null` when not pushed).
    pub digest: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DecisionOut {
    pub storage_driver: Option<String>,
    pub mount_program: Option<String>,
    pub isolation: Option<String>,
    pub userns: Option<bool>,
    pub layers: Option<bool>,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DiskOut {
    pub quota_bytes: Option<u64>,
    pub peak_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct NomadOut {
    pub alloc_id: Option<String>,
    pub job_id: Option<String>,
    pub parent_job_id: Option<String>,
    pub namespace: Option<String>,
}

impl NomadOut {
    pub fn from_env() -> Self {
        let v = |k: &str| std::env::var(k).ok().filter(|s| !s.is_empty());
        NomadOut {
            alloc_id: v("NOMAD_ALLOC_ID"),
            job_id: v("NOMAD_JOB_ID"),
            parent_job_id: v("NOMAD_JOB_PARENT_ID"),
            namespace: v("NOMAD_NAMESPACE"),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorOut {
    /// `bad_input`, `blocked`, `build`, `push`, `signal`, `internal`.
    pub kind: String,
    pub message: String,
    pub hint: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BuildResult {
    pub schema: &'static str,
    pub status: RunStatus,
    pub exit_code: i32,
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: u64,
    pub images: Vec<ImageOut>,
    /// The local image ID (`sha256:…`), when the build produced one.
    pub image_id: Option<String>,
    pub decision: DecisionOut,
    pub disk: DiskOut,
    pub nomad: NomadOut,
    pub error: Option<ErrorOut>,
    pub log_tail: Vec<String>,
}

/// Where the result goes: `--result`, else `$NOMAD_ALLOC_DIR/buildrunner-result.json`, else
/// `./buildrunner-result.json`.
pub fn default_path(given: Option<&Path>) -> PathBuf {
    if let Some(p) = given {
        return p.to_path_buf();
    }
    match std::env::var_os("NOMAD_ALLOC_DIR").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d).join("buildrunner-result.json"),
        None => PathBuf::from("buildrunner-result.json"),
    }
}

/// Writes the result atomically (temp file in the same dir, then rename).
pub fn write(path: &Path, r: &BuildResult) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    let json = serde_json::to_vec_pretty(r).map_err(std::io::Error::other)?;
    preflight::write_atomic(path, &json)
}
