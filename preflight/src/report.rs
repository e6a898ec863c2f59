//! The doctor's report: the verdict, the decision, every finding and a few host facts, as one
//! serialisable value (schema `buildrunner.doctor/v1`, documented in docs/checks.md). The
//! printers in the binary render it as text, JSON or JUnit.

use serde::{Deserialize, Serialize};

use crate::decision::{Decision, Verdict};
use crate::facts::Facts;
use crate::finding::Finding;
use crate::host::mountinfo;

pub const DOCTOR_SCHEMA: &str = "buildrunner.doctor/v1";

/// Host facts worth printing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostSummary {
    pub kernel: Option<String>,
    pub euid: Option<u32>,
    pub user: Option<String>,
    pub in_user_namespace: bool,
    pub cgroup_mode: mountinfo::CgroupMode,
    pub storage_root: String,
    pub storage_fs: Option<String>,
    pub buildah: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DoctorReport {
    pub schema: String,
    pub verdict: Verdict,
    pub decision: Decision,
    pub checks: Vec<Finding>,
    pub host: HostSummary,
    pub elapsed_ms: f64,
}

impl HostSummary {
    pub fn of(f: &Facts) -> Self {
        HostSummary {
            kernel: f.host.kernel_release.clone(),
            euid: f.status().map(|s| s.euid),
            user: f.host.user_name.clone(),
            in_user_namespace: !f.host.uid_map.is_empty()
                && !crate::host::idmap::is_initial_ns(&f.host.uid_map),
            cgroup_mode: mountinfo::cgroup_mode(&f.host.mounts),
            storage_root: f.live.storage.root.display().to_string(),
            storage_fs: f.live.storage.fs_name.clone(),
            buildah: f.live.buildah.version.clone(),
        }
    }
}
