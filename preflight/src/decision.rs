//! The decision: which storage driver and isolation buildah gets here, whether it runs in a
//! user namespace, whether intermediate layers are kept, and why, each reason citing the
//! finding ids it rests on. Order of preference (KNOWLEDGE.md, "Decision"): native overlay →
//! overlay with `mount_program = fuse-overlayfs` → vfs; OCI isolation only when a fresh
//! procfs mounts, /proc/sys is writable and the cgroup layout suits the runtime, else chroot.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::checks::userns_hint;
use crate::facts::Facts;
use crate::finding::{Finding, Status};
use crate::host::mountinfo::{self, CgroupMode};
use crate::live::system::OVERLAYFS_MAGIC;
use crate::live::ProbeResult;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Builds run with native overlay and nothing failed.
    Ok,
    /// Builds run, but slower or with less than they could (fuse-overlayfs, vfs, a failed
    /// check that does not stop them).
    Degraded,
    /// buildah cannot build here; `unblock` says what would change that.
    Blocked,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Degraded => "degraded",
            Verdict::Blocked => "blocked",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageDriver {
    Overlay,
    Vfs,
}

impl StorageDriver {
    /// The name buildah and containers/storage use.
    pub fn as_str(self) -> &'static str {
        match self {
            StorageDriver::Overlay => "overlay",
            StorageDriver::Vfs => "vfs",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    Oci,
    Chroot,
}

impl Isolation {
    /// The value of buildah's `--isolation`.
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::Oci => "oci",
            Isolation::Chroot => "chroot",
        }
    }
}

/// One reason, citing the findings it rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// `verdict`, `userns`, `storage`, `isolation` or `layers`.
    pub topic: String,
    pub text: String,
    pub findings: Vec<String>,
}

/// How buildah will run here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub verdict: Verdict,
    pub storage_driver: StorageDriver,
    /// `Some(fuse-overlayfs)` for overlay through FUSE.
    pub mount_program: Option<PathBuf>,
    pub isolation: Isolation,
    pub userns: bool,
    /// Keep intermediate layers when no remote cache is used.
    pub layers: bool,
    /// Keep them when a remote cache (`--cache-repo`) is used: the cache needs them.
    pub layers_with_cache: bool,
    /// Finding ids that block builds (empty unless blocked).
    pub blocked_by: Vec<String>,
    /// The fix that unblocks builds.
    pub unblock: Option<String>,
    pub reasons: Vec<Reason>,
}

impl Decision {
    /// The driver as buildah names it plus the mount program, e.g. `overlay+fuse-overlayfs`.
    pub fn storage_label(&self) -> String {
        match (self.storage_driver, &self.mount_program) {
            (StorageDriver::Overlay, Some(_)) => "overlay (fuse-overlayfs)".into(),
            (StorageDriver::Overlay, None) => "overlay".into(),
            (StorageDriver::Vfs, _) => "vfs".into(),
        }
    }
    /// Whether to pass `--layers` to `buildah bud`.
    pub fn layers_for(&self, remote_cache: bool) -> bool {
        if remote_cache {
            self.layers_with_cache
        } else {
            self.layers
        }
    }
}

fn reason(topic: &str, text: impl Into<String>, ids: &[&str]) -> Reason {
    Reason {
        topic: topic.into(),
        text: text.into(),
        findings: ids.iter().map(|s| s.to_string()).collect(),
    }
}

fn status_of<'a>(findings: &'a [Finding], id: &str) -> Option<&'a Finding> {
    findings.iter().find(|f| f.id == id)
}

/// Decides from the facts and the findings made of them.
pub fn decide(f: &Facts, findings: &[Finding]) -> Decision {
    let mut reasons = Vec::new();
    let mut blocked_by = Vec::new();
    let mut unblock: Option<String> = None;
    let userns = f.needs_userns();

    // Can buildah start at all?
    if f.live.buildah.version.is_none() {
        blocked_by.push("buildah.version".to_string());
        unblock = status_of(findings, "buildah.version").and_then(|x| x.hint.clone());
    }
    if f.status().is_none() {
        blocked_by.push("caps".to_string());
        unblock.get_or_insert_with(|| "mount /proc in the container".into());
    }
    let probe = &f.live.userns_probe;
    if userns {
        reasons.push(reason(
            "userns",
            if f.is_root() {
                "root without SYS_ADMIN: buildah re-executes itself in a user namespace"
            } else {
                "not root: buildah runs rootless in a user namespace"
            },
            &["caps"],
        ));
        if matches!(probe.result, ProbeResult::Failed | ProbeResult::Timeout) {
            blocked_by.push("userns.probe".to_string());
            for id in ["userns.sysctl", "seccomp", "userns.apparmor"] {
                if status_of(findings, id).is_some_and(|x| x.status == Status::Fail) {
                    blocked_by.push(id.to_string());
                }
            }
            unblock.get_or_insert_with(|| userns_hint(f, probe));
        }
        // Rootless: without subordinate ids mapped by the helpers, RUN steps cannot work.
        if !f.is_root() {
            for id in ["subid.ranges", "subid.helpers"] {
                if let Some(x) = status_of(findings, id).filter(|x| x.status == Status::Fail) {
                    blocked_by.push(id.to_string());
                    unblock.get_or_insert_with(|| x.hint.clone().unwrap_or_default());
                }
            }
        }
    } else {
        reasons.push(reason(
            "userns",
            "root with SYS_ADMIN: no user namespace needed",
            &["caps"],
        ));
        // Without a user namespace buildah still needs a private mount namespace.
        let fresh = &f.live.freshproc_probe;
        if matches!(
            fresh.step.as_deref(),
            Some("unshare") | Some("mount-private")
        ) && fresh.result == ProbeResult::Failed
        {
            blocked_by.push("seccomp".to_string());
            unblock.get_or_insert_with(|| {
                "the container may not create mount namespaces: run it with `--security-opt seccomp=/usr/share/containers/seccomp.json`".into()
            });
        }
    }

    // Storage driver.
    let st = &f.live.storage;
    let on_overlayfs = st.fs_magic == Some(OVERLAYFS_MAGIC);
    let overlay_ok = f.live.overlay_probe.is_ok() && !on_overlayfs && st.d_type != Some(false);
    // fuse-overlayfs on a FUSE-backed storage root (Docker's fuse-overlayfs driver) mounts,
    // but RUN steps then fail binding /dev into the rootfs (verified under Docker 20.10).
    let on_fuse = st.fs_magic == Some(crate::live::system::FUSE_MAGIC);
    let fuse_ok = !on_fuse
        && f.live.fuse.device_error.is_none()
        && f.live.fuse.fuse_overlayfs.is_some()
        && f.host.filesystems.iter().any(|x| x == "fuse");
    let why = if on_overlayfs {
        "the storage root is on overlayfs"
    } else if on_fuse {
        "the storage root is on FUSE (neither native overlay nor fuse-overlayfs can build on it)"
    } else {
        "native overlay failed its test mount"
    };
    let (storage_driver, mount_program) = if overlay_ok {
        reasons.push(reason(
            "storage",
            format!(
                "native overlay: a test mount with a whiteout worked on {}",
                st.fs_name.as_deref().unwrap_or("the storage filesystem")
            ),
            &["overlay.probe", "storage.fs", "storage.dtype"],
        ));
        (StorageDriver::Overlay, None)
    } else if fuse_ok {
        reasons.push(reason(
            "storage",
            format!("overlay through fuse-overlayfs: {why}, and /dev/fuse works"),
            &["overlay.probe", "storage.fs", "fuse"],
        ));
        (StorageDriver::Overlay, f.live.fuse.fuse_overlayfs.clone())
    } else {
        reasons.push(reason(
            "storage",
            format!("vfs: {why} and fuse-overlayfs is unusable; every layer is a full copy"),
            &["overlay.probe", "storage.fs", "fuse"],
        ));
        (StorageDriver::Vfs, None)
    };

    // Isolation.
    let fresh_ok = f.live.freshproc_probe.is_ok();
    let sys_ro = mountinfo::proc_sys_read_only(&f.host.mounts);
    let cgroups = mountinfo::cgroup_mode(&f.host.mounts);
    let runtime = f.live.oci_runtime.as_ref();
    let crun = runtime.is_some_and(|r| r.ends_with("crun"));
    // Verified on this project's hosts: runc in a user namespace on cgroup v1/hybrid fails
    // writing `devices.deny`; crun refuses hybrid mode outright.
    let cgroups_ok = match cgroups {
        CgroupMode::Unified => true,
        CgroupMode::Legacy => !userns,
        CgroupMode::Hybrid => !userns && !crun,
        CgroupMode::Unknown => false,
    };
    // A rootless RUN step with its own network namespace needs a user-mode network helper.
    let net_ok = f.is_root() || f.live.rootless_net.is_some();
    let isolation = if fresh_ok && !sys_ro && cgroups_ok && net_ok && runtime.is_some() {
        reasons.push(reason(
            "isolation",
            "oci: a fresh procfs mounts, /proc/sys is writable and the cgroup layout suits the runtime",
            &["proc.masked", "proc.sys.ro", "cgroup.mode"],
        ));
        Isolation::Oci
    } else {
        let mut why = Vec::new();
        let mut ids = Vec::new();
        if !fresh_ok {
            why.push("a fresh procfs cannot be mounted");
            ids.push("proc.masked");
        }
        if sys_ro {
            why.push("/proc/sys is read-only");
            ids.push("proc.sys.ro");
        }
        if !cgroups_ok {
            why.push(if userns && cgroups != CgroupMode::Unified {
                "the OCI runtime cannot set up cgroup v1 controllers from a user namespace"
            } else {
                "the cgroup layout does not suit the OCI runtime"
            });
            ids.push("cgroup.mode");
        }
        if !net_ok {
            why.push("no slirp4netns/pasta for a rootless RUN network");
        }
        if runtime.is_none() {
            why.push("no OCI runtime (crun/runc) is installed");
        }
        reasons.push(reason(
            "isolation",
            format!("chroot: {}", why.join("; ")),
            &ids,
        ));
        Isolation::Chroot
    };

    // Layers.
    let (layers, layers_with_cache) = match storage_driver {
        StorageDriver::Overlay => {
            reasons.push(reason(
                "layers",
                "overlay shares layers, so intermediate layers are kept (--layers)",
                &[],
            ));
            (true, true)
        }
        StorageDriver::Vfs => {
            reasons.push(reason(
                "layers",
                "vfs copies every layer in full: no intermediate layers unless a remote cache needs them",
                &["storage.fs"],
            ));
            (false, true)
        }
    };

    let short_ids = userns
        && !f.is_root()
        && status_of(findings, "subid.ranges").is_some_and(|x| x.status == Status::Warn);
    let verdict = if !blocked_by.is_empty() {
        let ids: Vec<&str> = blocked_by.iter().map(String::as_str).collect();
        reasons.push(reason(
            "verdict",
            format!("blocked: {}", unblock.clone().unwrap_or_default()),
            &ids,
        ));
        Verdict::Blocked
    } else {
        // Everything that makes builds run with less than this machine could give them.
        let mut degraded: Vec<(String, Vec<&str>)> = Vec::new();
        match (storage_driver, &mount_program) {
            (StorageDriver::Vfs, _) => {
                degraded.push(("builds run on vfs".into(), vec!["overlay.probe", "fuse"]))
            }
            (StorageDriver::Overlay, Some(_)) => {
                degraded.push(("builds run on fuse-overlayfs".into(), vec!["overlay.probe"]))
            }
            _ => {}
        }
        if short_ids {
            degraded.push((
                "only a few ids can be mapped; images with files owned by other users fail".into(),
                vec!["subid.ranges"],
            ));
        }
        let failed: Vec<&str> = findings
            .iter()
            .filter(|x| x.status == Status::Fail)
            .map(|x| x.id.as_str())
            .collect();
        if !failed.is_empty() {
            degraded.push((format!("checks failed: {}", failed.join(", ")), failed));
        }
        if degraded.is_empty() {
            Verdict::Ok
        } else {
            let text = degraded
                .iter()
                .map(|(t, _)| t.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            let ids: Vec<&str> = degraded
                .iter()
                .flat_map(|(_, ids)| ids.iter().copied())
                .collect();
            reasons.push(reason("verdict", format!("degraded: {text}"), &ids));
            Verdict::Degraded
        }
    };
    Decision {
        verdict,
        storage_driver,
        mount_program,
        isolation,
        userns,
        layers,
        layers_with_cache,
        blocked_by,
        unblock,
        reasons,
    }
}
