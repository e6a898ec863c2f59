//! `/proc/self/status`: who we are (uids), which capabilities we hold, and whether seccomp or
//! no_new_privs confine us. Capability bit numbers are from `linux/capability.h`.

use serde::{Deserialize, Serialize};

pub const CAP_CHOWN: u32 = 0;
pub const CAP_DAC_OVERRIDE: u32 = 1;
pub const CAP_SETGID: u32 = 6;
pub const CAP_SETUID: u32 = 7;
pub const CAP_SYS_CHROOT: u32 = 18;
pub const CAP_SYS_ADMIN: u32 = 21;
pub const CAP_MKNOD: u32 = 27;

/// Names of the capabilities buildah cares about, for messages.
pub const NOTABLE_CAPS: &[(u32, &str)] = &[
    (CAP_SETGID, "SETGID"),
    (CAP_SETUID, "SETUID"),
    (CAP_SYS_CHROOT, "SYS_CHROOT"),
    (CAP_SYS_ADMIN, "SYS_ADMIN"),
    (CAP_MKNOD, "MKNOD"),
];

/// Seccomp mode of the process (`Seccomp:` line): 0 off, 1 strict, 2 filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SeccompMode {
    Disabled,
    Strict,
    Filter,
}

/// The parts of `/proc/self/status` the preflight uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcStatus {
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
    pub cap_eff: u64,
    pub cap_prm: u64,
    pub cap_bnd: u64,
    pub no_new_privs: bool,
    /// `None` when the kernel has no seccomp support (no `Seccomp:` line).
    pub seccomp: Option<SeccompMode>,
}

impl ProcStatus {
    pub fn has_eff(&self, cap: u32) -> bool {
        self.cap_eff & (1u64 << cap) != 0
    }
    pub fn has_bnd(&self, cap: u32) -> bool {
        self.cap_bnd & (1u64 << cap) != 0
    }
    pub fn is_root(&self) -> bool {
        self.euid == 0
    }
    /// Whether buildah will re-exec itself into a user namespace. containers/storage
    /// `pkg/unshare.MaybeReexecUsingUserNamespace` skips it only for uid 0 holding an
    /// effective CAP_SYS_ADMIN.
    pub fn needs_userns(&self) -> bool {
        !(self.is_root() && self.has_eff(CAP_SYS_ADMIN))
    }
}

/// Parses the text of `/proc/<pid>/status`. Returns what is missing when a required line is
/// absent or malformed.
pub fn parse_status(text: &str) -> Result<ProcStatus, String> {
    let mut uid = None;
    let mut gid = None;
    let mut cap_eff = None;
    let mut cap_prm = None;
    let mut cap_bnd = None;
    let mut nnp = false;
    let mut seccomp = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key {
            "Uid" => uid = Some(two_ids(value).ok_or("malformed Uid line")?),
            "Gid" => gid = Some(two_ids(value).ok_or("malformed Gid line")?),
            "CapEff" => cap_eff = Some(hex(value).ok_or("malformed CapEff line")?),
            "CapPrm" => cap_prm = Some(hex(value).ok_or("malformed CapPrm line")?),
            "CapBnd" => cap_bnd = Some(hex(value).ok_or("malformed CapBnd line")?),
            "NoNewPrivs" => nnp = value == "1",
            "Seccomp" => {
                seccomp = Some(match value {
                    "0" => SeccompMode::Disabled,
                    "1" => SeccompMode::Strict,
                    _ => SeccompMode::Filter,
                })
            }
            _ => {}
        }
    }
    let (uid, euid) = uid.ok_or("no Uid line")?;
    let (gid, egid) = gid.ok_or("no Gid line")?;
    Ok(ProcStatus {
        uid,
        euid,
        gid,
        egid,
        cap_eff: cap_eff.ok_or("no CapEff line")?,
        cap_prm: cap_prm.unwrap_or(0),
        cap_bnd: cap_bnd.ok_or("no CapBnd line")?,
        no_new_privs: nnp,
        seccomp,
    })
}

fn two_ids(value: &str) -> Option<(u32, u32)> {
    let mut it = value.split_whitespace().map(|s| s.parse::<u32>());
    Some((it.next()?.ok()?, it.next()?.ok()?))
}

fn hex(value: &str) -> Option<u64> {
    u64::from_str_radix(value, 16).ok()
}

/// Names of the notable capabilities set in `mask`.
pub fn cap_names(mask: u64) -> Vec<&'static str> {
    NOTABLE_CAPS
        .iter()
        .filter(|(bit, _)| mask & (1u64 << bit) != 0)
        .map(|(_, name)| *name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_default_caps_have_no_sys_admin() {
        let s = parse_status(
            "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nCapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\nNoNewPrivs:\t0\nSeccomp:\t2\n",
        )
        .unwrap();
        assert!(!s.has_eff(CAP_SYS_ADMIN));
        assert!(s.has_eff(CAP_SYS_CHROOT) && s.has_eff(CAP_SETUID) && s.has_eff(CAP_MKNOD));
        assert_eq!(s.cap_eff.count_ones(), 14);
        assert_eq!(s.seccomp, Some(SeccompMode::Filter));
        assert!(s.needs_userns());
    }

    #[test]
    fn missing_lines_are_errors_not_defaults() {
        assert!(parse_status("Uid:\t0\t0\t0\t0\n").is_err());
        assert!(parse_status("Uid:\tx\nGid:\t0 0\nCapEff:\t0\nCapBnd:\t0\n").is_err());
    }
}
