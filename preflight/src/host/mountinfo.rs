//! `/proc/self/mountinfo`: what is mounted where. It tells masked `/proc` paths (Docker
//! overmounts `/proc/kcore`, `/proc/acpi`… which makes the kernel refuse a fresh procfs in a
//! user namespace: `mount_too_revealing()` in fs/namespace.c), a read-only `/proc/sys` (OCI
//! isolation writes sysctls there), and the cgroup layout (v1, hybrid, unified).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountInfo {
    pub mount_point: String,
    pub options: Vec<String>,
    pub fstype: String,
    pub source: String,
}

impl MountInfo {
    pub fn read_only(&self) -> bool {
        self.options.iter().any(|o| o == "ro")
    }
}

/// Cgroup layout under `/sys/fs/cgroup`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CgroupMode {
    /// cgroup2 mounted at /sys/fs/cgroup.
    Unified,
    /// v1 controllers plus a cgroup2 at /sys/fs/cgroup/unified.
    Hybrid,
    /// v1 controllers only.
    Legacy,
    /// Nothing mounted at /sys/fs/cgroup.
    Unknown,
}

pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            let pre: Vec<&str> = pre.split(' ').collect();
            let mut post = post.split(' ');
            Some(MountInfo {
                mount_point: unescape(pre.get(4)?),
                options: pre.get(5)?.split(',').map(str::to_string).collect(),
                fstype: post.next()?.to_string(),
                source: unescape(post.next().unwrap_or("")),
            })
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Mounts stacked on paths below `/proc` that hide parts of it. Mounts on empty directories
/// (binfmt_misc) do not count: the kernel tolerates them.
pub fn masked_proc_paths(mounts: &[MountInfo]) -> Vec<String> {
    let mut v: Vec<String> = mounts
        .iter()
        .filter(|m| m.mount_point.starts_with("/proc/"))
        .filter(|m| !m.mount_point.starts_with("/proc/sys/fs/binfmt_misc"))
        .map(|m| m.mount_point.clone())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Whether the last mount at `/proc/sys` (or, failing that, at `/proc`) is read-only.
pub fn proc_sys_read_only(mounts: &[MountInfo]) -> bool {
    last_at(mounts, "/proc/sys")
        .or_else(|| last_at(mounts, "/proc"))
        .map(MountInfo::read_only)
        .unwrap_or(false)
}

pub fn cgroup_mode(mounts: &[MountInfo]) -> CgroupMode {
    match last_at(mounts, "/sys/fs/cgroup") {
        Some(m) if m.fstype == "cgroup2" => CgroupMode::Unified,
        Some(_) => {
            if last_at(mounts, "/sys/fs/cgroup/unified").is_some_and(|m| m.fstype == "cgroup2") {
                CgroupMode::Hybrid
            } else {
                CgroupMode::Legacy
            }
        }
        None => CgroupMode::Unknown,
    }
}

/// Mount points at or below `dir`, deepest first: the order to unmount them in.
pub fn mounts_below(mounts: &[MountInfo], dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<std::path::PathBuf> = mounts
        .iter()
        .map(|m| std::path::PathBuf::from(&m.mount_point))
        .filter(|m| m.starts_with(dir))
        .collect();
    v.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    v
}

/// [`mounts_below`] in this process's mount namespace, from `/proc/self/mountinfo`.
pub fn current_mounts_below(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    mounts_below(&parse_mountinfo(&text), dir)
}

/// The topmost mount at exactly `path` (later lines stack over earlier ones).
pub fn last_at<'a>(mounts: &'a [MountInfo], path: &str) -> Option<&'a MountInfo> {
    mounts.iter().rev().find(|m| m.mount_point == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER: &str = "\
600 500 0:50 / / rw,relatime master:1 - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w
601 600 0:52 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
602 600 0:53 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro
603 602 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec - tmpfs tmpfs rw,mode=755
604 603 0:27 / /sys/fs/cgroup/unified ro,nosuid - cgroup2 cgroup2 rw
605 601 0:52 /bus /proc/bus ro,nosuid,nodev,noexec,relatime - proc proc rw
606 601 0:52 /sys /proc/sys ro,nosuid,nodev,noexec,relatime - proc proc rw
607 601 0:54 /null /proc/kcore rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
608 600 0:55 / /mnt/with\\040space rw - ext4 /dev/vda rw
";

    #[test]
    fn docker_container_is_masked_readonly_and_hybrid() {
        let m = parse_mountinfo(DOCKER);
        assert_eq!(m.len(), 9);
        assert_eq!(
            masked_proc_paths(&m),
            vec!["/proc/bus", "/proc/kcore", "/proc/sys"]
        );
        assert!(proc_sys_read_only(&m));
        assert_eq!(cgroup_mode(&m), CgroupMode::Hybrid);
        assert_eq!(m[8].mount_point, "/mnt/with space");
    }

    #[test]
    fn unified_host() {
        let m = parse_mountinfo(
            "1 0 0:1 / / rw - ext4 /dev/vda rw\n2 1 0:2 / /proc rw - proc proc rw\n3 1 0:3 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n4 2 0:4 / /proc/sys/fs/binfmt_misc rw - binfmt_misc binfmt_misc rw\n",
        );
        assert!(masked_proc_paths(&m).is_empty());
        assert!(!proc_sys_read_only(&m));
        assert_eq!(cgroup_mode(&m), CgroupMode::Unified);
    }
}
