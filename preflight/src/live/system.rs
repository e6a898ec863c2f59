//! Live facts that need no namespace: `statfs`, `readdir` d_type, file capabilities,
//! `/dev/fuse`, docker sockets, and the directories the namespace probes work in.

use std::ffi::CString;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::spawn::{run_probes, MapPlan, ProbeSpec};
use super::{FuseFacts, HelperFacts, LiveOptions, ProbeOutcome, ProbeResult, StorageFacts};
use crate::host::status::{cap_names, CAP_SETGID, CAP_SETUID};
use crate::host::StaticFacts;

/// Filesystem magic numbers (`linux/magic.h`) the preflight has something to say about.
pub const OVERLAYFS_MAGIC: i64 = 0x794c_7630;
pub const FUSE_MAGIC: i64 = 0x6573_5546;
pub const TMPFS_MAGIC: i64 = 0x0102_1994;
pub const XFS_MAGIC: i64 = 0x5846_5342;
pub const EXT4_MAGIC: i64 = 0xef53;
pub const BTRFS_MAGIC: i64 = 0x9123_683e;
pub const ZFS_MAGIC: i64 = 0x2fc1_2fc1;
pub const NFS_MAGIC: i64 = 0x6969;

pub fn fs_name(magic: i64) -> &'static str {
    match magic {
        OVERLAYFS_MAGIC => "overlayfs",
        FUSE_MAGIC => "fuse",
        TMPFS_MAGIC => "tmpfs",
        XFS_MAGIC => "xfs",
        EXT4_MAGIC => "ext4",
        BTRFS_MAGIC => "btrfs",
        ZFS_MAGIC => "zfs",
        NFS_MAGIC => "nfs",
        _ => "other",
    }
}

/// The first executable called `name` on `PATH`, then in the sbin directories a non-root
/// `PATH` often lacks.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0))
}

/// Mode bits and `security.capability` of an id-map helper.
pub fn helper_facts(path: &Path) -> HelperFacts {
    let meta = fs::metadata(path).ok();
    let setuid_root = meta.is_some_and(|m| m.uid() == 0 && m.mode() & 0o4000 != 0);
    let file_caps = file_caps(path)
        .map(|mask| {
            let mut names = cap_names(mask);
            names.retain(|n| *n == "SETUID" || *n == "SETGID");
            names.into_iter().map(str::to_string).collect()
        })
        .unwrap_or_default();
    HelperFacts {
        path: path.to_path_buf(),
        setuid_root,
        file_caps,
    }
}

/// Permitted capabilities of a file (`struct vfs_cap_data`, little endian), if it has any.
pub fn file_caps(path: &Path) -> Option<u64> {
    let p = CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    let mut buf = [0u8; 24];
    // SAFETY: valid NUL-terminated strings and a buffer of the length we pass.
    let n = unsafe {
        libc::getxattr(
            p.as_ptr(),
            c"security.capability".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 12 {
        return None;
    }
    let word = |i: usize| u32::from_le_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
    let lo = word(4) as u64;
    let hi = if n >= 20 { word(12) as u64 } else { 0 };
    Some(lo | (hi << 32))
}

/// Whether the helpers could map a range for a non-root user at all.
pub fn helper_can_map(h: &HelperFacts, cap: u32) -> bool {
    let name = if cap == CAP_SETUID {
        "SETUID"
    } else if cap == CAP_SETGID {
        "SETGID"
    } else {
        ""
    };
    h.setuid_root || h.file_caps.iter().any(|c| c == name)
}

pub fn fuse_facts() -> FuseFacts {
    let device_error = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
        .err()
        .map(|e| e.to_string());
    FuseFacts {
        device_error,
        fuse_overlayfs: which("fuse-overlayfs"),
    }
}

/// Docker API sockets we can connect to: whoever can is root on the host.
pub fn docker_sockets() -> Vec<PathBuf> {
    use nix::unistd::{access, AccessFlags};
    let mut found = Vec::new();
    for p in ["/var/run/docker.sock", "/run/docker.sock"] {
        let Ok(meta) = fs::metadata(p) else { continue };
        let canon = fs::canonicalize(p).unwrap_or_else(|_| PathBuf::from(p));
        let usable = access(p, AccessFlags::R_OK | AccessFlags::W_OK).is_ok();
        if meta.file_type().is_socket() && usable && !found.contains(&canon) {
            found.push(canon);
        }
    }
    found
}

fn nearest_existing(path: &Path) -> PathBuf {
    let mut p = path.to_path_buf();
    while fs::symlink_metadata(&p).is_err() {
        if !p.pop() {
            return PathBuf::from("/");
        }
    }
    p
}

/// A unique directory below `base`, mode 0700.
fn make_dir(base: &Path, tag: &str) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = base.join(format!(
        ".buildrunner-{tag}-{}-{nanos:x}",
        std::process::id()
    ));
    fs::DirBuilder::new().mode(0o700).create(&dir)?;
    Ok(dir)
}

/// Whether `readdir` reports file types in `dir` (XFS with ftype=0 does not; overlay needs
/// them). Reads the raw dirent: std would quietly fall back to `lstat`.
fn d_type_works(dir: &Path) -> Option<bool> {
    use nix::fcntl::OFlag;
    fs::write(dir.join("f"), b"").ok()?;
    let found = nix::dir::Dir::open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY,
        nix::sys::stat::Mode::empty(),
    )
    .ok()
    .and_then(|mut d| {
        d.iter()
            .flatten()
            .find(|e| e.file_name().to_bytes() == b"f")
            .map(|e| e.file_type().is_some())
    });
    let _ = fs::remove_file(dir.join("f"));
    found
}

fn cache_files(storage_root: &Path, runroot: &Path) -> Vec<String> {
    [
        runroot.join("overlay/overlay-true"),
        runroot.join("overlay/overlay-false"),
        storage_root.join("overlay/.has-mount-program"),
    ]
    .into_iter()
    .filter(|p| p.exists())
    .map(|p| p.display().to_string())
    .collect()
}

/// The default run root of containers/storage for our user.
pub fn default_runroot(euid: u32) -> PathBuf {
    if euid == 0 {
        return PathBuf::from("/run/containers/storage");
    }
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(format!("/run/user/{euid}")))
        .join("containers")
}

/// Examines the storage root, then runs the three namespace probes in directories on it.
// statfs/statvfs field types differ between architectures; the casts are not no-ops
// everywhere.
#[allow(clippy::unnecessary_cast)]
pub fn storage_and_probes(
    facts: &StaticFacts,
    opts: &LiveOptions,
    newuidmap: &Option<HelperFacts>,
    newgidmap: &Option<HelperFacts>,
) -> (StorageFacts, [ProbeOutcome; 3]) {
    let examined = nearest_existing(&opts.storage_root);
    let st = nix::sys::statfs::statfs(&examined).ok();
    let vfs = nix::sys::statvfs::statvfs(&examined).ok();
    let fs_magic = st.map(|s| s.filesystem_type().0 as i64);
    let euid = facts.status.as_ref().map(|s| s.euid).unwrap_or(0);
    let mut storage = StorageFacts {
        root: opts.storage_root.clone(),
        examined: examined.clone(),
        fs_magic,
        fs_name: fs_magic.map(|m| fs_name(m).to_string()),
        free_bytes: vfs.map(|v| v.blocks_available() as u64 * v.fragment_size() as u64),
        total_bytes: vfs.map(|v| v.blocks() as u64 * v.fragment_size() as u64),
        d_type: None,
        // containers/storage's own default store, which plain buildah uses.
        cache_files: cache_files(&crate::default_storage_root(euid), &default_runroot(euid)),
    };

    let skipped = |why: String| ProbeOutcome::other(ProbeResult::Skipped, "-", "setup", why);
    let build_mode = match &facts.status {
        Ok(s) if !s.needs_userns() => "host",
        _ => "userns",
    };
    let Some(exe) = opts.probe_exe.as_deref() else {
        let s = || skipped("no probe executable".into());
        return (storage, [s(), s(), s()]);
    };
    // The overlay probe must run on the storage filesystem; the others anywhere.
    let on_storage = make_dir(&examined, "probe");
    let base = match &on_storage {
        Ok(d) => d.clone(),
        Err(_) => match make_dir(&std::env::temp_dir(), "probe") {
            Ok(d) => d,
            Err(e) => {
                let s = || skipped(format!("cannot create a probe directory: {e}"));
                return (storage, [s(), s(), s()]);
            }
        },
    };
    storage.d_type = on_storage.as_ref().ok().and_then(|d| d_type_works(d));
    // In userns mode one child runs all three probes in the namespace buildah will use; in
    // host mode the user-namespace probe needs its own child.
    let with_overlay = |mut kinds: Vec<&'static str>| {
        if on_storage.is_ok() {
            kinds.push("overlay");
        }
        kinds
    };
    let specs = if build_mode == "userns" {
        vec![ProbeSpec {
            kinds: with_overlay(vec!["userns", "freshproc"]),
            mode: "userns",
            dir: base.clone(),
        }]
    } else {
        vec![
            ProbeSpec {
                kinds: vec!["userns"],
                mode: "userns",
                dir: base.join("u"),
            },
            ProbeSpec {
                kinds: with_overlay(vec!["freshproc"]),
                mode: "host",
                dir: base.join("h"),
            },
        ]
    };
    let mut ok = true;
    for s in specs.iter().filter(|s| s.dir != base) {
        ok &= fs::create_dir(&s.dir).is_ok();
    }
    let st = facts.status.as_ref().ok();
    let map = MapPlan {
        euid,
        egid: st.map(|s| s.egid).unwrap_or(0),
        uid_map: facts.uid_map.clone(),
        gid_map: facts.gid_map.clone(),
        subuid: facts.subuid.clone().unwrap_or_default(),
        subgid: facts.subgid.clone().unwrap_or_default(),
        newuidmap: newuidmap.as_ref().map(|h| h.path.clone()),
        newgidmap: newgidmap.as_ref().map(|h| h.path.clone()),
    };
    let results = if ok {
        run_probes(exe, &specs, &map, opts.probe_timeout)
    } else {
        specs
            .iter()
            .map(|s| vec![skipped("cannot create probe directories".into()); s.kinds.len()])
            .collect()
    };
    cleanup(&base);
    let mut by_kind = std::collections::HashMap::new();
    for (spec, outcomes) in specs.iter().zip(results) {
        by_kind.extend(spec.kinds.iter().copied().zip(outcomes));
    }
    let mut take = |k: &str| {
        by_kind
            .remove(k)
            .unwrap_or_else(|| skipped("no result".into()))
    };
    let userns = take("userns");
    let fresh = take("freshproc");
    let overlay = if on_storage.is_ok() {
        take("overlay")
    } else {
        skipped(format!(
            "cannot create a directory in {} to probe overlay on the storage filesystem",
            examined.display()
        ))
    };
    (storage, [userns, overlay, fresh])
}

/// Removes a probe directory. Overlay work dirs come out mode 000, so open them up first.
fn cleanup(base: &Path) {
    if fs::remove_dir_all(base).is_ok() {
        return;
    }
    fn open_up(p: &Path) {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = fs::symlink_metadata(p) {
            if m.is_dir() {
                let _ = fs::set_permissions(p, fs::Permissions::from_mode(0o700));
                if let Ok(rd) = fs::read_dir(p) {
                    for e in rd.flatten() {
                        open_up(&e.path());
                    }
                }
            }
        }
    }
    open_up(base);
    let _ = fs::remove_dir_all(base);
}
