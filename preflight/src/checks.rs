//! The checks: pure functions from [`Facts`] to [`Finding`]s, one per id in
//! [`crate::finding::CHECK_IDS`]. Each non-pass finding carries the one-line fix an operator
//! can paste; the texts follow `shared/KNOWLEDGE.md` §1.

use crate::facts::Facts;
use crate::finding::{Finding, Status};
use crate::host::idmap::{ranges_overlap, usable_ids};
use crate::host::mountinfo::{self, CgroupMode};
use crate::host::status::{cap_names, SeccompMode, CAP_SETGID, CAP_SETUID, CAP_SYS_ADMIN};
use crate::live::buildah::parse_version;
use crate::live::system::{helper_can_map, OVERLAYFS_MAGIC};
use crate::live::{ProbeOutcome, ProbeResult, RefusedBy};

/// Subordinate ids a rootless build needs: with the user's own id (mapped to 0) they map
/// 0..=65534, `nobody` included — what `build:1:999` + `build:1001:64535` give in a container.
pub const MIN_SUBIDS: u64 = 65534;
/// Below this much free space a build is unlikely to finish.
pub const FREE_FAIL_BYTES: u64 = 1 << 30;
/// Below this, warn.
pub const FREE_WARN_BYTES: u64 = 10 << 30;

const HINT_CAP_ADD: &str = "run the container with `--cap-add SYS_ADMIN` (Nomad: client `allow_caps` + task `cap_add = [\"SYS_ADMIN\"]`), or with `--security-opt seccomp=/usr/share/containers/seccomp.json`";

/// Runs every check, in [`crate::finding::CHECK_IDS`] order.
pub fn evaluate(f: &Facts) -> Vec<Finding> {
    vec![
        buildah_version(f),
        userns_sysctl(f),
        userns_probe(f),
        userns_apparmor(f),
        subid_ranges(f),
        subid_helpers(f),
        caps(f),
        seccomp(f),
        nonewprivs(f),
        storage_fs(f),
        storage_free(f),
        storage_dtype(f),
        overlay_probe(f),
        fuse(f),
        proc_masked(f),
        proc_sys_ro(f),
        cgroup_mode(f),
        lsm_selinux(f),
        lsm_apparmor(f),
        storage_cache(f),
        docker_socket(f),
    ]
}

fn buildah_version(f: &Facts) -> Finding {
    const ID: &str = "buildah.version";
    let b = &f.live.buildah;
    let Some(v) = &b.version else {
        return Finding::fail(ID, "buildah is not usable")
            .detail(b.error.clone().unwrap_or_default())
            .hint("install buildah ≥ 1.28: `apt-get install buildah` or `dnf install buildah`");
    };
    let path = b
        .path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let detail = format!("{path}{}", if b.cached { " (version cached)" } else { "" });
    match parse_version(v) {
        Some(mv) if mv >= (1, 28) => Finding::pass(ID, format!("buildah {v}")).detail(detail),
        Some(mv) if mv >= (1, 27) => {
            Finding::warn(ID, format!("buildah {v}: no --retry for pushes"))
                .detail(detail)
                .hint("upgrade buildah to ≥ 1.28 for push retries")
        }
        Some(_) => Finding::warn(
            ID,
            format!("buildah {v}: no registry cache (--cache-to needs ≥ 1.27)"),
        )
        .detail(detail)
        .hint("upgrade buildah to ≥ 1.28"),
        None => {
            Finding::warn(ID, format!("buildah reports an unparsable version {v:?}")).detail(detail)
        }
    }
}

fn userns_sysctl(f: &Facts) -> Finding {
    const ID: &str = "userns.sysctl";
    let s = &f.host.sysctls;
    let needed = f.needs_userns();
    let bad = if needed { Status::Fail } else { Status::Warn };
    if s.max_user_namespaces == Some(0) {
        return Finding::new(ID, bad, "user namespaces are disabled: user.max_user_namespaces = 0")
            .hint("on the host: `sysctl -w user.max_user_namespaces=15000` (RHEL 7 also needs boot args `namespace.unpriv_enable=1 user_namespace.enable=1`)");
    }
    if s.unprivileged_userns_clone == Some(0) && !f.is_root() {
        return Finding::new(
            ID,
            bad,
            "unprivileged user namespaces are disabled: kernel.unprivileged_userns_clone = 0",
        )
        .hint("on the host: `sysctl -w kernel.unprivileged_userns_clone=1`");
    }
    let max = s
        .max_user_namespaces
        .map(|m| m.to_string())
        .unwrap_or_else(|| "unknown".into());
    Finding::pass(
        ID,
        format!("user namespaces enabled (max_user_namespaces = {max})"),
    )
}

/// `unshare failed: EPERM …` plus how the id maps were written.
fn probe_detail(p: &ProbeOutcome) -> String {
    let mut d = p.describe();
    if let Some(m) = &p.idmap {
        d.push_str(&format!(
            "; id maps: {} ({} uids, {} gids)",
            m.method, m.uids, m.gids
        ));
    }
    d
}

fn userns_probe(f: &Facts) -> Finding {
    const ID: &str = "userns.probe";
    let p = &f.live.userns_probe;
    let needed = f.needs_userns();
    match p.result {
        ProbeResult::Ok => Finding::pass(
            ID,
            "created a user namespace, mapped ids, mounted a tmpfs in it",
        )
        .detail(probe_detail(p)),
        ProbeResult::Skipped => {
            Finding::skip(ID, "user namespace probe not run").detail(probe_detail(p))
        }
        _ => {
            let status = if needed { Status::Fail } else { Status::Warn };
            let consequence = if needed {
                "buildah must re-exec into a user namespace here and cannot"
            } else {
                "not needed: root with SYS_ADMIN builds without one"
            };
            let hint = userns_hint(f, p);
            Finding::new(
                ID,
                status,
                format!("user namespace probe failed: {consequence}"),
            )
            .detail(probe_detail(p))
            .hint(hint)
        }
    }
}

/// The fix for a failed user-namespace probe, from the step and errno that failed.
pub fn userns_hint(f: &Facts, p: &ProbeOutcome) -> String {
    let s = &f.host.sysctls;
    if p.step.as_deref() == Some("unshare") {
        if p.refused_by == Some(RefusedBy::Seccomp) {
            return format!("the seccomp filter blocks unshare: {HINT_CAP_ADD}");
        }
        if s.max_user_namespaces == Some(0) || p.errno == Some(libc::ENOSPC) {
            return "on the host: `sysctl -w user.max_user_namespaces=15000`".into();
        }
        if s.unprivileged_userns_clone == Some(0) {
            return "on the host: `sysctl -w kernel.unprivileged_userns_clone=1`".into();
        }
        if p.errno == Some(libc::EINVAL) {
            return "the probe ran multi-threaded or the kernel lacks CONFIG_USER_NS: build the kernel with user namespaces".into();
        }
    }
    if p.step.as_deref() == Some("mount-tmpfs")
        && s.apparmor_restrict_unprivileged_userns == Some(1)
    {
        return "AppArmor confines unprivileged user namespaces: load a profile with `userns,` for buildah, or `sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`".into();
    }
    if p.step.as_deref() == Some("idmap") {
        return "give the id-map helpers file capabilities: `setcap cap_setuid=ep /usr/bin/newuidmap; setcap cap_setgid=ep /usr/bin/newgidmap`".into();
    }
    format!("grant the container SYS_ADMIN or relax its confinement: {HINT_CAP_ADD}")
}

fn userns_apparmor(f: &Facts) -> Finding {
    const ID: &str = "userns.apparmor";
    match f.host.sysctls.apparmor_restrict_unprivileged_userns {
        None => Finding::skip(ID, "no AppArmor user-namespace restriction on this kernel"),
        Some(0) => Finding::pass(
            ID,
            "AppArmor does not restrict unprivileged user namespaces",
        ),
        Some(_) => {
            let probe_failed =
                !f.live.userns_probe.is_ok() && f.live.userns_probe.result != ProbeResult::Skipped;
            let status = if probe_failed && f.needs_userns() && !f.is_root() {
                Status::Fail
            } else {
                Status::Warn
            };
            Finding::new(ID, status, "kernel.apparmor_restrict_unprivileged_userns = 1: unprivileged user namespaces get no capabilities")
                .hint("load an AppArmor profile with `userns,` for buildah, or `sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`")
        }
    }
}

/// Rootless builds need subordinate ids: with only its own id mapped, buildah falls back to
/// a single mapping with `setgroups` denied, and every `RUN` step then fails with `error
/// setting supplemental groups list: operation not permitted` (verified with buildah 1.28).
fn subid_ranges(f: &Facts) -> Finding {
    const ID: &str = "subid.ranges";
    if f.is_root() {
        return Finding::skip(
            ID,
            "root: buildah maps the ids of its own namespace, not /etc/subuid",
        );
    }
    let user = f
        .host
        .user_name
        .clone()
        .unwrap_or_else(|| f.status().map(|s| s.euid.to_string()).unwrap_or_default());
    let subuid = f.host.subuid.as_deref().unwrap_or(&[]);
    let subgid = f.host.subgid.as_deref().unwrap_or(&[]);
    let hint = format!(
        "give {user} ≥ 65534 subordinate ids inside this namespace's map in /etc/subuid and /etc/subgid, e.g. `{user}:100000:65536` on a host or `{user}:1:999` + `{user}:1001:64535` in a container"
    );
    if ranges_overlap(subuid) || ranges_overlap(subgid) {
        return Finding::fail(
            ID,
            format!("{user}'s subordinate ranges overlap: newuidmap's write is refused (EINVAL)"),
        )
        .detail(format!("subuid {subuid:?}; subgid {subgid:?}"))
        .hint(hint);
    }
    let uids = usable_ids(subuid, &f.host.uid_map);
    let gids = usable_ids(subgid, &f.host.gid_map);
    if uids >= MIN_SUBIDS && gids >= MIN_SUBIDS {
        return Finding::pass(
            ID,
            format!("{user} has {uids} subordinate uids and {gids} gids"),
        );
    }
    let declared = subuid.iter().map(|r| r.count as u64).sum::<u64>();
    let (status, summary) = if uids == 0 || gids == 0 {
        let why = if declared > uids {
            "its ranges lie outside this namespace's id map"
        } else {
            "no ranges"
        };
        (Status::Fail, format!("{user} has no usable subordinate ids ({why}): every RUN step fails setting supplemental groups"))
    } else {
        (Status::Warn, format!("{user} has only {uids} subordinate uids and {gids} gids: images owning files above that fail"))
    };
    Finding::new(ID, status, summary)
        .detail("buildah: `potentially insufficient UIDs or GIDs available in user namespace`")
        .hint(hint)
}

/// Rootless buildah needs the helpers: when they are missing or fail it maps only the user's
/// own id with `setgroups` denied, and every `RUN` fails (`error setting supplemental groups
/// list`, verified with buildah 1.28).
fn subid_helpers(f: &Facts) -> Finding {
    const ID: &str = "subid.helpers";
    if f.is_root() {
        return Finding::skip(
            ID,
            "root writes id maps itself; newuidmap/newgidmap not needed",
        );
    }
    let hint = "give the helpers file capabilities: `setcap cap_setuid=ep /usr/bin/newuidmap; setcap cap_setgid=ep /usr/bin/newgidmap` (apt/dnf: package `uidmap`/`shadow-utils`)";
    let (Some(u), Some(g)) = (&f.live.newuidmap, &f.live.newgidmap) else {
        return Finding::fail(
            ID,
            "newuidmap/newgidmap not found: only your own id can be mapped, and RUN steps fail",
        )
        .hint(
            "install the id-map helpers: `apt-get install uidmap` or `dnf install shadow-utils`",
        );
    };
    let describe = |h: &crate::live::HelperFacts| {
        format!(
            "{} ({}{})",
            h.path.display(),
            if h.setuid_root {
                "setuid root"
            } else {
                "not setuid"
            },
            if h.file_caps.is_empty() {
                String::new()
            } else {
                format!(", file caps {}", h.file_caps.join("+"))
            }
        )
    };
    let detail = format!("{}; {}", describe(u), describe(g));
    if !helper_can_map(u, CAP_SETUID) || !helper_can_map(g, CAP_SETGID) {
        return Finding::fail(
            ID,
            "the id-map helpers have neither setuid nor file capabilities: RUN steps fail",
        )
        .detail(detail)
        .hint(hint);
    }
    if let Some(m) = &f.live.userns_probe.idmap {
        if let Some(err) = &m.helper_error {
            let in_container = !f.status().is_some_and(|s| s.has_bnd(CAP_SYS_ADMIN));
            let why = if in_container && u.file_caps.is_empty() {
                " (setuid helpers fail in a container without SYS_ADMIN in its bounding set)"
            } else {
                ""
            };
            return Finding::fail(
                ID,
                format!("the id-map helpers failed{why}: buildah falls back to a single mapping and RUN steps fail"),
            )
            .detail(format!("{detail}; {err}"))
            .hint(hint);
        }
    }
    Finding::pass(ID, "newuidmap/newgidmap can map subordinate ids").detail(detail)
}

fn caps(f: &Facts) -> Finding {
    const ID: &str = "caps";
    let Some(s) = f.status() else {
        return Finding::fail(ID, "cannot read our capabilities")
            .detail(f.host.status.clone().err().unwrap_or_default())
            .hint("mount /proc in the container");
    };
    let have = cap_names(s.cap_eff).join(" ");
    let detail = format!("CapEff={:016x} CapBnd={:016x}", s.cap_eff, s.cap_bnd);
    if s.has_eff(CAP_SYS_ADMIN) {
        Finding::pass(ID, format!("effective: {have}")).detail(detail)
    } else if s.is_root() {
        Finding::warn(
            ID,
            format!("root without SYS_ADMIN (effective: {have}): buildah needs a user namespace"),
        )
        .detail(detail)
        .hint(HINT_CAP_ADD)
    } else {
        Finding::pass(
            ID,
            format!("uid {}: buildah runs rootless in a user namespace", s.euid),
        )
        .detail(detail)
    }
}

fn seccomp(f: &Facts) -> Finding {
    const ID: &str = "seccomp";
    let blocked = [
        &f.live.userns_probe,
        &f.live.overlay_probe,
        &f.live.freshproc_probe,
    ]
    .into_iter()
    .find(|p| p.refused_by == Some(RefusedBy::Seccomp));
    match (f.status().and_then(|s| s.seccomp), blocked) {
        (_, Some(p)) => {
            let status = if p.step.as_deref() == Some("unshare") && f.needs_userns()
                || p.mode == "host" && p.step.as_deref() == Some("mount-private")
            {
                Status::Fail
            } else {
                Status::Warn
            };
            Finding::new(
                ID,
                status,
                format!(
                    "a seccomp filter refuses {}",
                    p.step.as_deref().unwrap_or("a syscall")
                ),
            )
            .detail(p.describe())
            .hint(HINT_CAP_ADD)
        }
        (Some(SeccompMode::Filter), None) => {
            Finding::pass(ID, "seccomp filter active; it allowed every probe")
        }
        (Some(SeccompMode::Strict), None) => {
            Finding::fail(ID, "strict seccomp mode").hint("run without strict seccomp")
        }
        _ => Finding::pass(ID, "no seccomp filter"),
    }
}

fn nonewprivs(f: &Facts) -> Finding {
    const ID: &str = "nonewprivs";
    match f.status() {
        Some(s) if s.no_new_privs && !s.is_root() => Finding::warn(ID, "no_new_privs is set: setuid and file-capability id-map helpers cannot work")
            .hint("drop `--security-opt no-new-privileges` (Nomad: `security_opt`), or run the build as root"),
        Some(s) if s.no_new_privs => Finding::pass(ID, "no_new_privs is set (harmless for root)"),
        _ => Finding::pass(ID, "no_new_privs is not set"),
    }
}

fn storage_fs(f: &Facts) -> Finding {
    const ID: &str = "storage.fs";
    let st = &f.live.storage;
    let name = st.fs_name.clone().unwrap_or_else(|| "unknown".into());
    let at = format!("{} ({} examined)", st.root.display(), st.examined.display());
    match st.fs_magic {
        None => Finding::warn(ID, format!("cannot statfs the storage root {}", st.root.display()))
            .hint("create the storage root or pass `--storage-root DIR` on a writable volume"),
        Some(OVERLAYFS_MAGIC) => Finding::warn(ID, "storage root is on overlayfs: native overlay is impossible ('overlay' is not supported over overlayfs)")
            .detail(at)
            .hint("mount a volume at the storage root (`-v buildstore:/var/lib/containers`; Nomad: a `volume`/`mount`), or use `--storage-root` on one"),
        Some(_) if name == "fuse" || name == "nfs" => Finding::warn(ID, format!("storage root is on {name}: overlay cannot use it as an upper layer"))
            .detail(at)
            .hint("put the storage root on a local ext4/xfs volume"),
        Some(m) => Finding::pass(ID, format!("storage root on {name} (magic 0x{m:x})")).detail(at),
    }
}

fn human(bytes: u64) -> String {
    let gib = bytes as f64 / (1u64 << 30) as f64;
    if gib >= 1.0 {
        format!("{gib:.1} GiB")
    } else {
        format!("{} MiB", bytes >> 20)
    }
}

fn storage_free(f: &Facts) -> Finding {
    const ID: &str = "storage.free";
    let st = &f.live.storage;
    match st.free_bytes {
        None => Finding::skip(ID, "free space unknown"),
        Some(b) if b < FREE_FAIL_BYTES => Finding::fail(
            ID,
            format!("only {} free under {}", human(b), st.examined.display()),
        )
        .hint("free space or point `--storage-root` at a larger volume"),
        Some(b) if b < FREE_WARN_BYTES => Finding::warn(
            ID,
            format!(
                "{} free under {}: vfs builds copy every layer",
                human(b),
                st.examined.display()
            ),
        )
        .hint("give the storage root ≥ 10 GiB"),
        Some(b) => Finding::pass(
            ID,
            format!(
                "{} free of {}",
                human(b),
                human(st.total_bytes.unwrap_or(b))
            ),
        ),
    }
}

fn storage_dtype(f: &Facts) -> Finding {
    const ID: &str = "storage.dtype";
    match f.live.storage.d_type {
        Some(true) => Finding::pass(ID, "readdir returns file types (d_type)"),
        Some(false) => Finding::fail(
            ID,
            "no d_type support: overlay cannot be used on this filesystem",
        )
        .hint("reformat XFS with `mkfs.xfs -n ftype=1`, or use another volume"),
        None => Finding::skip(ID, "could not test d_type (storage root not writable)"),
    }
}

fn overlay_probe(f: &Facts) -> Finding {
    const ID: &str = "overlay.probe";
    let p = &f.live.overlay_probe;
    match p.result {
        ProbeResult::Ok if f.live.storage.fs_magic == Some(OVERLAYFS_MAGIC) => Finding::warn(
            ID,
            "the kernel mounted overlay on overlayfs, but containers/storage refuses it",
        )
        .detail(probe_detail(p))
        .hint("mount a volume at the storage root"),
        ProbeResult::Ok => Finding::pass(
            ID,
            "mounted an overlay with a whiteout on the storage filesystem",
        )
        .detail(probe_detail(p)),
        ProbeResult::Skipped => Finding::skip(ID, "overlay probe not run").detail(probe_detail(p)),
        _ => {
            let hint = if f.live.storage.fs_magic == Some(OVERLAYFS_MAGIC) {
                "mount a volume at the storage root, or give the container /dev/fuse for fuse-overlayfs"
            } else if p.mode == "userns" && f.host.kernel_version().is_some_and(|v| v < (5, 11)) {
                "kernel < 5.11 cannot mount overlay in a user namespace: use fuse-overlayfs (`--device /dev/fuse`) or a newer kernel"
            } else {
                "give the container /dev/fuse for fuse-overlayfs, or a volume on ext4/xfs at the storage root"
            };
            Finding::warn(ID, "native overlay does not work here")
                .detail(probe_detail(p))
                .hint(hint)
        }
    }
}

fn fuse(f: &Facts) -> Finding {
    const ID: &str = "fuse";
    let fu = &f.live.fuse;
    let registered = f.host.filesystems.iter().any(|fs| fs == "fuse");
    match (&fu.device_error, &fu.fuse_overlayfs) {
        (None, Some(p)) if registered => Finding::pass(ID, format!("/dev/fuse opens read-write; {}", p.display())),
        (Some(e), _) => Finding::warn(ID, format!("/dev/fuse unusable: {e}"))
            .hint("pass the device: `--device /dev/fuse` (Nomad: `devices = [{ host_path = \"/dev/fuse\" }]`)"),
        (None, None) => Finding::warn(ID, "/dev/fuse works but fuse-overlayfs is not installed")
            .hint("`apt-get install fuse-overlayfs` or `dnf install fuse-overlayfs`"),
        (None, Some(_)) => Finding::warn(ID, "the kernel has no fuse filesystem registered")
            .hint("on the host: `modprobe fuse`"),
    }
}

fn proc_masked(f: &Facts) -> Finding {
    const ID: &str = "proc.masked";
    let masked = mountinfo::masked_proc_paths(&f.host.mounts);
    let p = &f.live.freshproc_probe;
    let detail = format!("fresh procfs probe: {}", p.describe());
    if p.is_ok() {
        return Finding::pass(
            ID,
            if masked.is_empty() {
                "/proc is not masked".to_string()
            } else {
                format!(
                    "{} paths under /proc are overmounted, but a fresh procfs mounts",
                    masked.len()
                )
            },
        )
        .detail(detail);
    }
    if masked.is_empty() && p.result == ProbeResult::Skipped {
        return Finding::pass(ID, "/proc is not masked").detail(detail);
    }
    Finding::warn(ID, format!("a fresh procfs cannot be mounted ({}): OCI isolation fails with `mount proc to proc: Operation not permitted`", if masked.is_empty() { "no masked paths seen".to_string() } else { format!("masked: {}", masked.join(" ")) }))
        .detail(detail)
        .hint("use `--isolation chroot` (buildrunner does), or run the container with `--security-opt systempaths=unconfined`")
}

fn proc_sys_ro(f: &Facts) -> Finding {
    const ID: &str = "proc.sys.ro";
    if mountinfo::proc_sys_read_only(&f.host.mounts) {
        Finding::warn(ID, "/proc/sys is read-only: OCI isolation cannot set sysctls (ping_group_range)")
            .hint("use `--isolation chroot` (buildrunner does), or `--security-opt systempaths=unconfined`")
    } else {
        Finding::pass(ID, "/proc/sys is writable")
    }
}

fn cgroup_mode(f: &Facts) -> Finding {
    const ID: &str = "cgroup.mode";
    match mountinfo::cgroup_mode(&f.host.mounts) {
        CgroupMode::Unified => Finding::pass(ID, "cgroup v2 (unified)"),
        CgroupMode::Legacy if f.needs_userns() => Finding::warn(ID, "cgroup v1: the OCI runtime cannot set up cgroups from a user namespace")
            .hint("use `--isolation chroot` (buildrunner does), or boot the host with `systemd.unified_cgroup_hierarchy=1`"),
        CgroupMode::Legacy => Finding::pass(ID, "cgroup v1"),
        CgroupMode::Hybrid => Finding::warn(ID, "cgroups in hybrid mode: crun refuses (`cgroups in hybrid mode not supported`)")
            .hint("use `--isolation chroot` (buildrunner does when OCI isolation cannot work), or boot the host with `systemd.unified_cgroup_hierarchy=1`"),
        CgroupMode::Unknown => Finding::warn(ID, "no cgroup filesystem at /sys/fs/cgroup")
            .hint("use `--isolation chroot` (buildrunner does)"),
    }
}

fn lsm_selinux(f: &Facts) -> Finding {
    const ID: &str = "lsm.selinux";
    match f.host.lsm.selinux_enforcing {
        None => Finding::skip(ID, "SELinux not present"),
        Some(false) => Finding::pass(ID, "SELinux permissive"),
        Some(true) => {
            let old = f.host.kernel_version().is_some_and(|v| v < (5, 13));
            let status = if old { Status::Warn } else { Status::Pass };
            let mut fi = Finding::new(ID, status, "SELinux enforcing");
            if old {
                fi = fi
                    .detail("kernels < 5.13 refuse overlay in a user namespace under SELinux")
                    .hint("use fuse-overlayfs (`--device /dev/fuse`) or a kernel ≥ 5.13");
            }
            fi
        }
    }
}

fn lsm_apparmor(f: &Facts) -> Finding {
    const ID: &str = "lsm.apparmor";
    let lsm = &f.host.lsm;
    if !lsm.apparmor_enabled {
        return Finding::skip(ID, "AppArmor not enabled");
    }
    match lsm.apparmor_label.as_deref() {
        None | Some("unconfined") => {
            Finding::pass(ID, "AppArmor enabled; this process is unconfined")
        }
        Some(label) => {
            let blocked = [
                &f.live.userns_probe,
                &f.live.overlay_probe,
                &f.live.freshproc_probe,
            ]
            .iter()
            .any(|p| {
                p.refused_by == Some(RefusedBy::Kernel)
                    && p.step.as_deref().is_some_and(|s| s.starts_with("mount"))
            });
            let fi = Finding::new(
                ID,
                if blocked { Status::Warn } else { Status::Pass },
                format!("AppArmor profile {label}"),
            );
            if blocked {
                fi.detail("a mount was refused by the kernel under this profile")
                    .hint("run the container with `--security-opt apparmor=unconfined` or a profile that allows mount")
            } else {
                fi
            }
        }
    }
}

fn storage_cache(f: &Facts) -> Finding {
    const ID: &str = "storage.cache";
    let files = &f.live.storage.cache_files;
    if files.is_empty() {
        return Finding::pass(ID, "no cached storage decisions");
    }
    let says_true = files.iter().any(|p| p.ends_with("overlay-true"));
    let says_false = files.iter().any(|p| p.ends_with("overlay-false"));
    let mount_program = files.iter().any(|p| p.ends_with(".has-mount-program"));
    let native_now = f.live.overlay_probe.is_ok();
    let stale = if native_now {
        says_false || mount_program
    } else {
        says_true
    };
    if stale {
        Finding::warn(
            ID,
            "containers/storage cached a storage decision that differs from today's probe",
        )
        .detail(files.join(", "))
        .hint(format!(
            "remove the stale files: `rm -f {}` (buildrunner builds use a fresh run root)",
            files.join(" ")
        ))
    } else {
        Finding::pass(ID, "cached storage decisions agree with today's probe")
            .detail(files.join(", "))
    }
}

fn docker_socket(f: &Facts) -> Finding {
    const ID: &str = "docker.socket";
    let s = &f.live.docker_sockets;
    if s.is_empty() {
        return Finding::pass(ID, "no docker socket reachable");
    }
    let in_container = !f.host.uid_map.is_empty()
        && crate::host::mountinfo::last_at(&f.host.mounts, "/")
            .is_some_and(|m| m.fstype == "overlay" || m.fstype.starts_with("fuse"));
    let fi = Finding::warn(
        ID,
        format!(
            "docker socket at {}: whoever reaches it is root on the host",
            s.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    if in_container {
        fi.hint(
            "do not mount the docker socket into build containers; buildrunner does not need it",
        )
    } else {
        fi.hint("keep the docker socket out of build containers; buildrunner does not need it")
    }
}
