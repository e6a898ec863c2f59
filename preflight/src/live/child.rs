//! The probe child: the side of a live probe that runs in a fresh, single-threaded process.
//!
//! `unshare(CLONE_NEWUSER)` fails with EINVAL in a multi-threaded process, and a probe must
//! never leave a mount behind, so every probe runs here: the binary re-executes itself with a
//! hidden subcommand (`buildrunner __probe KINDS MODE DIR`), the child enters new namespaces,
//! does the real thing (mount a tmpfs, an overlay with a whiteout, a fresh procfs), and
//! reports one JSON line on stdout. Its mounts live in its own private mount namespace and are
//! detached before it exits, so nothing can leak to the caller's namespace.
//!
//! Protocol on stdout/stdin, in `userns` mode: the child unshares, prints `READY`, waits for
//! the parent to write its id maps (only a process outside the namespace can run
//! `newuidmap`), reads `GO` (or `ABORT`), then probes. Last line: the `ProbeOutcome` JSON.

// A probe step's error is the outcome to report; it is built once per failed probe in a
// short-lived process, so its size does not matter.
#![allow(clippy::result_large_err)]

use std::ffi::CString;
use std::fs;
use std::io::{BufRead, Write};
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};

use super::outcome::{ProbeOutcome, RefusedBy};

/// The hidden subcommand the binary must route to [`child_main`].
pub const PROBE_SUBCOMMAND: &str = "__probe";

/// The probes a child can run, in the order it runs them.
pub const PROBE_KINDS: &[&str] = &["userns", "freshproc", "overlay"];

/// Entry point of the probe child. `args` are the words after the hidden subcommand:
/// `KINDS MODE DIR`, KINDS a comma-separated list of [`PROBE_KINDS`]. The child enters its
/// namespaces once and runs each probe in `DIR/<kind>`, removing what it made; it prints a
/// JSON array of outcomes, one per kind, and returns the exit code.
pub fn child_main(args: &[std::ffi::OsString]) -> i32 {
    let usage = || {
        eprintln!("usage: {PROBE_SUBCOMMAND} userns,freshproc,overlay host|userns DIR");
        2
    };
    // DIR may be any path; the words before it must be UTF-8.
    let [kinds, mode, dir] = args else {
        return usage();
    };
    let (Some(kinds), Some(mode)) = (kinds.to_str(), mode.to_str()) else {
        return usage();
    };
    let kinds: Vec<&str> = kinds.split(',').collect();
    if !kinds.iter().all(|k| PROBE_KINDS.contains(k)) || !matches!(mode, "host" | "userns") {
        return usage();
    }
    let outcomes = run_kinds(&kinds, mode, Path::new(dir));
    let mut out = std::io::stdout().lock();
    let line = serde_json::to_string(&outcomes).unwrap_or_else(|_| "[]".into());
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    0
}

fn run_kinds(kinds: &[&str], mode: &str, dir: &Path) -> Vec<ProbeOutcome> {
    let extra = if kinds.contains(&"freshproc") {
        CloneFlags::CLONE_NEWPID
    } else {
        CloneFlags::empty()
    };
    if let Err(o) = enter(mode, extra) {
        return kinds.iter().map(|_| o.clone()).collect();
    }
    kinds
        .iter()
        .map(|kind| {
            let sub = dir.join(kind);
            let outcome = mkdir(mode, &sub).and_then(|_| match *kind {
                "userns" => probe_tmpfs(mode, &sub),
                "overlay" => probe_overlay(mode, &sub),
                _ => probe_freshproc(mode, &sub),
            });
            // We are root in our namespace (CAP_DAC_OVERRIDE), so even the mode-000 work
            // dir overlay leaves comes out; the parent only removes the empty top.
            let _ = fs::remove_dir_all(&sub);
            outcome
                .map(|_| ProbeOutcome::ok(mode))
                .unwrap_or_else(|o| o)
        })
        .collect()
}

type Step<T> = Result<T, ProbeOutcome>;

fn fail(mode: &str, step: &str, e: Errno, refused_by: Option<RefusedBy>) -> ProbeOutcome {
    ProbeOutcome::failed(mode, step, e as i32, refused_by)
}

/// Who refused an `unshare`: the kernel answers EINVAL to an invalid flag; a filter that
/// blocks the syscall answers before it looks.
fn classify_unshare() -> RefusedBy {
    // SAFETY: 0x1 is not a valid unshare flag; the call changes nothing whatever answers.
    let r = unsafe { libc::unshare(0x1) };
    classify(r, Errno::EINVAL)
}

/// Who refused a `mount`: the kernel answers EFAULT to a NULL target.
fn classify_mount() -> RefusedBy {
    // SAFETY: all-NULL arguments; the kernel rejects them before doing anything.
    let r = unsafe {
        libc::mount(
            std::ptr::null(),
            std::ptr::null(),
            std::ptr::null(),
            0,
            std::ptr::null(),
        )
    };
    classify(r, Errno::EFAULT)
}

fn classify(r: i32, kernel_answer: Errno) -> RefusedBy {
    if r == 0 {
        return RefusedBy::Unknown;
    }
    match Errno::last() {
        e if e == kernel_answer => RefusedBy::Kernel,
        Errno::EPERM | Errno::ENOSYS | Errno::EACCES => RefusedBy::Seccomp,
        _ => RefusedBy::Unknown,
    }
}

/// Enters the namespaces for `mode` plus `extra`, waits for id maps in userns mode, and makes
/// every mount private so nothing we mount can propagate back to the caller.
fn enter(mode: &str, extra: CloneFlags) -> Step<()> {
    let mut flags = CloneFlags::CLONE_NEWNS | extra;
    if mode == "userns" {
        flags |= CloneFlags::CLONE_NEWUSER;
    }
    if let Err(e) = unshare(flags) {
        return Err(fail(mode, "unshare", e, Some(classify_unshare())));
    }
    if mode == "userns" {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "READY");
        let _ = out.flush();
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        if line.trim() != "GO" {
            return Err(ProbeOutcome::other(
                super::ProbeResult::Failed,
                mode,
                "idmap",
                format!("parent could not write the id maps: {}", line.trim()),
            ));
        }
    }
    if let Err(e) = mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    ) {
        return Err(fail(mode, "mount-private", e, Some(classify_mount())));
    }
    Ok(())
}

fn mount_fs(mode: &str, step: &str, fstype: &str, target: &Path, data: &str) -> Step<()> {
    mount(
        Some(fstype),
        target,
        Some(fstype),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some(data),
    )
    .map_err(|e| fail(mode, step, e, Some(classify_mount())))
}

fn detach(target: &Path) {
    let _ = umount2(target, MntFlags::MNT_DETACH);
}

fn mkdir(mode: &str, p: &Path) -> Step<()> {
    fs::create_dir_all(p)
        .map_err(|e| ProbeOutcome::failed(mode, "mkdir", e.raw_os_error().unwrap_or(0), None))
}

/// A tmpfs mount: proves the namespace (with its id maps, written by the parent) grants
/// the capabilities a build needs.
fn probe_tmpfs(mode: &str, dir: &Path) -> Step<()> {
    mount_fs(mode, "mount-tmpfs", "tmpfs", dir, "size=64k")?;
    detach(dir);
    Ok(())
}

/// containers/storage `supportsOverlay()`: two lowers, a whiteout in the upper lower that
/// hides a file of the lower one, an upper and a work dir; mount, check the whiteout hides
/// the file and the upper takes a write. `userxattr` in a user namespace (kernel ≥ 5.11).
fn probe_overlay(mode: &str, dir: &Path) -> Step<()> {
    {
        let d = |n: &str| dir.join(n);
        for n in ["lower1", "lower2", "upper", "work", "merged"] {
            mkdir(mode, &d(n))?;
        }
        fs::write(d("lower2").join("hidden"), b"lower2").map_err(|e| {
            ProbeOutcome::failed(mode, "write-lower", e.raw_os_error().unwrap_or(0), None)
        })?;
        mknod(
            &d("lower1").join("hidden"),
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o600),
            makedev(0, 0),
        )
        .map_err(|e| fail(mode, "mknod-whiteout", e, None))?;
        let mut opts = format!(
            "lowerdir={}:{},upperdir={},workdir={}",
            d("lower1").display(),
            d("lower2").display(),
            d("upper").display(),
            d("work").display()
        );
        if mode == "userns" {
            opts.push_str(",userxattr");
        }
        let merged = d("merged");
        mount_fs(mode, "mount-overlay", "overlay", &merged, &opts)?;
        let result = (|| {
            if merged.join("hidden").symlink_metadata().is_ok() {
                return Err(ProbeOutcome::other(
                    super::ProbeResult::Failed,
                    mode,
                    "whiteout-check",
                    "a whiteout in a lower layer did not hide the file below it".into(),
                ));
            }
            fs::write(merged.join("new"), b"upper").map_err(|e| {
                ProbeOutcome::failed(mode, "write-upper", e.raw_os_error().unwrap_or(0), None)
            })
        })();
        detach(&merged);
        result
    }
}

/// A fresh procfs in a new pid namespace, as OCI isolation mounts one for every `RUN`.
/// The kernel refuses it in a user namespace when parts of the current /proc are masked.
fn probe_freshproc(mode: &str, dir: &Path) -> Step<()> {
    {
        let target = dir.join("proc");
        mkdir(mode, &target)?;
        let target_c = CString::new(target.as_os_str().as_encoded_bytes())
            .map_err(|_| ProbeOutcome::failed(mode, "mkdir", libc::EINVAL, None))?;
        // SAFETY: this process is single-threaded (a fresh exec of the probe child), so the
        // forked child may run arbitrary code; it only calls async-signal-safe syscalls.
        match unsafe { fork() } {
            Err(e) => Err(fail(mode, "fork", e, None)),
            Ok(ForkResult::Child) => {
                // SAFETY: plain syscalls on a valid NUL-terminated path.
                unsafe {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    let fstype = c"proc".as_ptr();
                    let r = libc::mount(
                        fstype,
                        target_c.as_ptr(),
                        fstype,
                        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                        std::ptr::null(),
                    );
                    if r != 0 {
                        libc::_exit(*libc::__errno_location() & 0xff);
                    }
                    libc::umount2(target_c.as_ptr(), libc::MNT_DETACH);
                    libc::_exit(0);
                }
            }
            Ok(ForkResult::Parent { child }) => match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, 0)) => Ok(()),
                Ok(WaitStatus::Exited(_, code)) => Err(fail(
                    mode,
                    "mount-proc",
                    Errno::from_raw(code),
                    Some(classify_mount()),
                )),
                Ok(other) => Err(ProbeOutcome::other(
                    super::ProbeResult::Failed,
                    mode,
                    "mount-proc",
                    format!("probe process ended abnormally: {other:?}"),
                )),
                Err(e) => Err(fail(mode, "fork", e, None)),
            },
        }
    }
}
