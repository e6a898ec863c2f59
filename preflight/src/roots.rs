//! Where the probes look. Every probe of a file tree reads below one of these roots, so unit
//! tests point them at fixture trees recorded from real hosts (youki's
//! `get_cgroup_setup_with_root` pattern) instead of at the machine running the tests.

use std::path::{Path, PathBuf};

/// Roots of the file trees the static probes read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRoots {
    /// Usually `/proc`.
    pub proc: PathBuf,
    /// Usually `/sys`.
    pub sys: PathBuf,
    /// Usually `/etc`.
    pub etc: PathBuf,
}

impl Default for HostRoots {
    fn default() -> Self {
        HostRoots {
            proc: PathBuf::from("/proc"),
            sys: PathBuf::from("/sys"),
            etc: PathBuf::from("/etc"),
        }
    }
}

impl HostRoots {
    /// Roots of a recorded fixture tree: `<dir>/proc`, `<dir>/sys`, `<dir>/etc`.
    pub fn under(dir: &Path) -> Self {
        HostRoots {
            proc: dir.join("proc"),
            sys: dir.join("sys"),
            etc: dir.join("etc"),
        }
    }
}
