//! What a live probe reports: pass or the step that failed, its errno, and who refused it.

use serde::{Deserialize, Serialize};

/// How a probe ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeResult {
    Ok,
    Failed,
    Timeout,
    Skipped,
}

/// Who refused a failed step. Seccomp filters answer with their own errno before the kernel
/// looks at the arguments, so a call with arguments the kernel always rejects tells them
/// apart: `unshare(0x1)` gets EINVAL from the kernel but EPERM/ENOSYS from a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RefusedBy {
    Kernel,
    Seccomp,
    Unknown,
}

/// How the probe's user namespace got its id maps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMapOutcome {
    /// `direct` (root writes `/proc/PID/uid_map`), `helpers` (newuidmap/newgidmap with the
    /// subordinate ranges) or `single` (only our own id; what buildah falls back to when the
    /// helpers fail).
    pub method: String,
    pub uids: u64,
    pub gids: u64,
    /// Why the helpers could not be used, if they were tried and failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helper_error: Option<String>,
}

/// The outcome of one live probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeOutcome {
    pub result: ProbeResult,
    /// `host` (no new user namespace) or `userns`.
    pub mode: String,
    /// The step that failed: `unshare`, `idmap`, `mount-private`, `mount-tmpfs`,
    /// `mknod-whiteout`, `mount-overlay`, `whiteout-check`, `write-upper`, `fork`,
    /// `mount-proc`, `open`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno: Option<i32>,
    /// `EPERM (Operation not permitted)` etc.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_by: Option<RefusedBy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idmap: Option<IdMapOutcome>,
    #[serde(default)]
    pub elapsed_us: u64,
}

impl ProbeOutcome {
    pub fn ok(mode: &str) -> Self {
        ProbeOutcome {
            result: ProbeResult::Ok,
            mode: mode.to_string(),
            step: None,
            errno: None,
            error: None,
            refused_by: None,
            idmap: None,
            elapsed_us: 0,
        }
    }
    pub fn failed(mode: &str, step: &str, errno: i32, refused_by: Option<RefusedBy>) -> Self {
        ProbeOutcome {
            result: ProbeResult::Failed,
            step: Some(step.to_string()),
            errno: Some(errno),
            error: Some(errno_text(errno)),
            refused_by,
            ..Self::ok(mode)
        }
    }
    pub fn other(result: ProbeResult, mode: &str, step: &str, error: String) -> Self {
        ProbeOutcome {
            result,
            step: Some(step.to_string()),
            error: Some(error),
            ..Self::ok(mode)
        }
    }
    pub fn is_ok(&self) -> bool {
        self.result == ProbeResult::Ok
    }
    /// `unshare failed: EPERM (Operation not permitted), refused by seccomp`.
    pub fn describe(&self) -> String {
        match self.result {
            ProbeResult::Ok => format!("ok ({} mode)", self.mode),
            ProbeResult::Skipped => format!("skipped: {}", self.error.as_deref().unwrap_or("")),
            ProbeResult::Timeout => {
                format!("timed out at step {}", self.step.as_deref().unwrap_or("?"))
            }
            ProbeResult::Failed => {
                let mut s = format!(
                    "{} failed: {}",
                    self.step.as_deref().unwrap_or("?"),
                    self.error.as_deref().unwrap_or("?")
                );
                match self.refused_by {
                    Some(RefusedBy::Seccomp) => s.push_str(", refused by the seccomp filter"),
                    Some(RefusedBy::Kernel) => s.push_str(", refused by the kernel"),
                    _ => {}
                }
                s.push_str(&format!(" ({} mode)", self.mode));
                s
            }
        }
    }
}

/// `EPERM (Operation not permitted)`.
pub fn errno_text(errno: i32) -> String {
    let e = nix::errno::Errno::from_raw(errno);
    format!("{:?} ({})", e, e.desc())
}
