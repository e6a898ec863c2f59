//! Findings: the unit every check produces and every printer consumes.
//!
//! A finding has a stable `id` (documented in `docs/checks.md`; Jenkins dashboards and
//! JUnit reports key on it), a status, a one-line summary, optional detail and a one-line,
//! copy-pasteable hint for anything that is not a pass.

use serde::{Deserialize, Serialize};

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Skip,
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Skip => "skip",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub id: String,
    pub status: Status,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Finding {
    pub fn new(id: &str, status: Status, summary: impl Into<String>) -> Self {
        Finding {
            id: id.to_string(),
            status,
            summary: summary.into(),
            detail: None,
            hint: None,
        }
    }
    pub fn pass(id: &str, summary: impl Into<String>) -> Self {
        Self::new(id, Status::Pass, summary)
    }
    pub fn skip(id: &str, summary: impl Into<String>) -> Self {
        Self::new(id, Status::Skip, summary)
    }
    pub fn warn(id: &str, summary: impl Into<String>) -> Self {
        Self::new(id, Status::Warn, summary)
    }
    pub fn fail(id: &str, summary: impl Into<String>) -> Self {
        Self::new(id, Status::Fail, summary)
    }
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Every check id the preflight emits, in report order. Tests assert each report has all of
/// them exactly once, so a check cannot silently disappear.
pub const CHECK_IDS: &[&str] = &[
    "buildah.version",
    "userns.sysctl",
    "userns.probe",
    "userns.apparmor",
    "subid.ranges",
    "subid.helpers",
    "caps",
    "seccomp",
    "nonewprivs",
    "storage.fs",
    "storage.free",
    "storage.dtype",
    "overlay.probe",
    "fuse",
    "proc.masked",
    "proc.sys.ro",
    "cgroup.mode",
    "lsm.selinux",
    "lsm.apparmor",
    "storage.cache",
    "docker.socket",
];
