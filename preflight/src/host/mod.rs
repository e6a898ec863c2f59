//! Static facts: everything the preflight learns by *reading* files under `/proc`, `/sys` and
//! `/etc`. Reading never fails as a whole: a missing or unreadable file becomes `None` (and,
//! where that matters, a finding), because a confined container hides files a host shows.

pub mod idmap;
pub mod mountinfo;
pub mod status;

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::roots::HostRoots;
use idmap::{IdMapLine, SubIdRange};
use mountinfo::MountInfo;
use status::ProcStatus;

/// The files the static facts come from, relative to their root. The fixture recorder copies
/// exactly these, so a fixture holds everything the reader needs and nothing else.
pub const PROC_FILES: &[&str] = &[
    "self/status",
    "self/uid_map",
    "self/gid_map",
    "self/mountinfo",
    "self/attr/current",
    "self/attr/apparmor/current",
    "filesystems",
    "sys/user/max_user_namespaces",
    "sys/kernel/unprivileged_userns_clone",
    "sys/kernel/apparmor_restrict_unprivileged_userns",
    "sys/kernel/osrelease",
];
pub const SYS_FILES: &[&str] = &["fs/selinux/enforce", "module/apparmor/parameters/enabled"];
pub const ETC_FILES: &[&str] = &["passwd", "subuid", "subgid"];

/// User-namespace related sysctls; `None` when the file does not exist (which, for the
/// Debian-only `unprivileged_userns_clone`, means "enabled").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsernsSysctls {
    pub max_user_namespaces: Option<u64>,
    pub unprivileged_userns_clone: Option<u64>,
    pub apparmor_restrict_unprivileged_userns: Option<u64>,
}

/// Linux security modules that can stand between buildah and a mount.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LsmFacts {
    /// `Some(true)` enforcing, `Some(false)` permissive, `None` SELinux absent.
    pub selinux_enforcing: Option<bool>,
    pub apparmor_enabled: bool,
    /// Our AppArmor label, e.g. `docker-default (enforce)` or `unconfined`.
    pub apparmor_label: Option<String>,
}

/// What the file trees say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticFacts {
    /// `Err` holds why `/proc/self/status` could not be used; nothing works without it.
    pub status: Result<ProcStatus, String>,
    pub uid_map: Vec<IdMapLine>,
    pub gid_map: Vec<IdMapLine>,
    pub user_name: Option<String>,
    /// `None` when the file does not exist.
    pub subuid: Option<Vec<SubIdRange>>,
    pub subgid: Option<Vec<SubIdRange>>,
    pub sysctls: UsernsSysctls,
    pub kernel_release: Option<String>,
    pub filesystems: Vec<String>,
    pub mounts: Vec<MountInfo>,
    pub lsm: LsmFacts,
}

fn read(root: &Path, rel: &str) -> Option<String> {
    fs::read_to_string(root.join(rel)).ok()
}

fn read_u64(root: &Path, rel: &str) -> Option<u64> {
    read(root, rel)?.trim().parse().ok()
}

impl StaticFacts {
    pub fn read(roots: &HostRoots) -> StaticFacts {
        let p = &roots.proc;
        let status = match read(p, "self/status") {
            Some(t) => status::parse_status(&t),
            None => Err(format!("cannot read {}", p.join("self/status").display())),
        };
        let (uid, gid) = status.as_ref().map(|s| (s.euid, s.egid)).unwrap_or((0, 0));
        let user_name = read(&roots.etc, "passwd").and_then(|t| idmap::user_name(&t, uid));
        let sub = |file: &str, id: u32| {
            read(&roots.etc, file).map(|t| idmap::parse_subid(&t, user_name.as_deref(), id))
        };
        let apparmor_label = read(p, "self/attr/apparmor/current")
            .or_else(|| read(p, "self/attr/current"))
            .map(|s| s.trim_end_matches(['\n', '\0']).to_string())
            .filter(|s| !s.is_empty());
        StaticFacts {
            uid_map: idmap::parse_id_map(&read(p, "self/uid_map").unwrap_or_default()),
            gid_map: idmap::parse_id_map(&read(p, "self/gid_map").unwrap_or_default()),
            subuid: sub("subuid", uid),
            subgid: sub("subgid", gid),
            user_name,
            status,
            sysctls: UsernsSysctls {
                max_user_namespaces: read_u64(p, "sys/user/max_user_namespaces"),
                unprivileged_userns_clone: read_u64(p, "sys/kernel/unprivileged_userns_clone"),
                apparmor_restrict_unprivileged_userns: read_u64(
                    p,
                    "sys/kernel/apparmor_restrict_unprivileged_userns",
                ),
            },
            kernel_release: read(p, "sys/kernel/osrelease").map(|s| s.trim().to_string()),
            filesystems: read(p, "filesystems")
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.split_whitespace().last().map(str::to_string))
                .collect(),
            mounts: mountinfo::parse_mountinfo(&read(p, "self/mountinfo").unwrap_or_default()),
            lsm: LsmFacts {
                selinux_enforcing: read_u64(&roots.sys, "fs/selinux/enforce").map(|v| v == 1),
                apparmor_enabled: read(&roots.sys, "module/apparmor/parameters/enabled")
                    .is_some_and(|s| s.trim() == "Y"),
                apparmor_label,
            },
        }
    }

    /// `(major, minor)` of the running kernel, from `osrelease` like `6.18.44-fc-v669`.
    pub fn kernel_version(&self) -> Option<(u32, u32)> {
        let r = self.kernel_release.as_deref()?;
        let mut it = r.split(|c: char| !c.is_ascii_digit());
        Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
    }
}
