//! Per-run storage: every build gets a fresh graph root and run root under the work dir
//! (`$BUILDRUNNER_WORK_DIR`, default `/var/lib/containers/buildrunner` for root — the volume
//! in a runner container — else `~/.local/share/buildrunner`), never the host's default
//! store. An exclusive `flock` on `RUN/lock`, held for the whole run, marks the run alive
//! and stops two runs from sharing one root; `buildrunner gc` removes run dirs whose lock it
//! can take (their process is gone), unmounting anything a killed buildah left mounted.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A run dir holding this file was kept with `--keep-storage`; `gc` keeps it too unless
/// asked to include kept runs.
pub const KEPT_MARKER: &str = "kept";

/// The directory per-run roots live in (shared with the doctor's default).
pub fn work_dir() -> PathBuf {
    // SAFETY: geteuid cannot fail.
    preflight::default_work_dir(unsafe { libc::geteuid() })
}

/// Takes an exclusive, non-blocking lock; `Ok(None)` when someone else holds it.
fn try_lock(path: &Path) -> io::Result<Option<File>> {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    // SAFETY: flock on a file descriptor we own.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r == 0 {
        Ok(Some(f))
    } else {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            Ok(None)
        } else {
            Err(e)
        }
    }
}

/// One run's directories, locked for as long as this value lives.
#[derive(Debug)]
pub struct RunDir {
    pub dir: PathBuf,
    pub graphroot: PathBuf,
    pub runroot: PathBuf,
    /// The graph root was given with `--storage-root`: it is kept.
    pub user_root: bool,
    _lock: File,
    _root_lock: Option<File>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    #[error("cannot create {path}: {err}")]
    Create { path: PathBuf, err: io::Error },
    #[error("{path} is in use by another buildrunner run")]
    Busy { path: PathBuf },
}

impl RunDir {
    pub fn create(storage_root: Option<&Path>) -> Result<RunDir, RunDirError> {
        // containers/storage wants absolute paths ("static directory must be an absolute path").
        let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let base = abs(&work_dir());
        let storage_root = storage_root.map(abs);
        let storage_root = storage_root.as_deref();
        let mk = |p: &Path| {
            fs::create_dir_all(p).map_err(|err| RunDirError::Create {
                path: p.into(),
                err,
            })
        };
        mk(&base)?;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        // Made under a hidden name and locked before it gets the `run-` name `gc` looks
        // for, so `gc` can never take the lock of a run that is still being set up.
        let name = format!("run-{stamp}-{}", std::process::id());
        let hidden = base.join(format!(".{name}"));
        mk(&hidden)?;
        let lock_path = hidden.join("lock");
        let lock = try_lock(&lock_path)
            .map_err(|err| RunDirError::Create {
                path: lock_path.clone(),
                err,
            })?
            .ok_or(RunDirError::Busy {
                path: hidden.clone(),
            })?;
        let dir = base.join(&name);
        fs::rename(&hidden, &dir).map_err(|err| RunDirError::Create {
            path: dir.clone(),
            err,
        })?;
        let created = dir.clone();
        let undo = move |e: RunDirError| {
            let _ = fs::remove_dir_all(&created);
            e
        };
        let (graphroot, user_root) = match storage_root {
            Some(r) => (r.to_path_buf(), true),
            None => (dir.join("root"), false),
        };
        mk(&graphroot).map_err(undo.clone())?;
        let root_lock = if user_root {
            let p = graphroot.join("buildrunner.lock");
            Some(
                try_lock(&p)
                    .map_err(|err| RunDirError::Create {
                        path: p.clone(),
                        err,
                    })
                    .map_err(undo.clone())?
                    .ok_or(RunDirError::Busy {
                        path: graphroot.clone(),
                    })
                    .map_err(undo.clone())?,
            )
        } else {
            None
        };
        let runroot = dir.join("run");
        mk(&runroot).map_err(undo)?;
        let _ = fs::write(
            dir.join("owner"),
            format!(
                "pid {}\ngraphroot {}\n",
                std::process::id(),
                graphroot.display()
            ),
        );
        Ok(RunDir {
            dir,
            graphroot,
            runroot,
            user_root,
            _lock: lock,
            _root_lock: root_lock,
        })
    }

    /// Removes the run dir (and the graph root unless the user gave it).
    pub fn remove(&self) -> Result<(), String> {
        remove_tree(&self.dir)
    }

    /// The descriptors of the run's locks, for children to inherit.
    pub fn lock_fds(&self) -> Vec<std::os::unix::io::RawFd> {
        let mut v = vec![self._lock.as_raw_fd()];
        v.extend(self._root_lock.as_ref().map(|f| f.as_raw_fd()));
        v
    }

    /// Marks the run dir as kept on purpose (`--keep-storage`): `gc` leaves it alone.
    pub fn mark_kept(&self) {
        let _ = fs::write(self.dir.join(KEPT_MARKER), b"kept with --keep-storage\n");
    }
}

/// Unmounts what is left under `dir`, then removes it. Files a rootless build created belong
/// to subordinate ids, which only `buildah unshare` (inside the user namespace) may delete.
pub fn remove_tree(dir: &Path) -> Result<(), String> {
    for m in preflight::host::mountinfo::current_mounts_below(dir) {
        let _ = nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH);
    }
    if fs::remove_dir_all(dir).is_ok() || !dir.exists() {
        return Ok(());
    }
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        let ok = Command::new("buildah")
            .arg("unshare")
            .arg("rm")
            .arg("-rf")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Ok(());
        }
    }
    fs::remove_dir_all(dir).map_err(|e| format!("cannot remove {}: {e}", dir.display()))
}

/// One run dir `gc` found.
#[derive(Debug)]
pub struct Stale {
    pub dir: PathBuf,
    /// Kept with `--keep-storage` and so left in place.
    pub kept: bool,
    pub removed: Result<(), String>,
}

/// Finds run dirs whose owner is gone and (unless `dry_run`) removes them; runs kept with
/// `--keep-storage` only when `include_kept`.
pub fn gc(dry_run: bool, include_kept: bool) -> io::Result<Vec<Stale>> {
    let base = std::path::absolute(work_dir())?;
    let mut found = Vec::new();
    let entries = match fs::read_dir(&base) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(e),
    };
    for e in entries.flatten() {
        let dir = e.path();
        let lock = dir.join("lock");
        if !e.file_name().to_string_lossy().starts_with("run-") || !lock.exists() {
            continue;
        }
        // Holding the lock proves its owner is gone; keep holding it while removing.
        let Ok(Some(_held)) = try_lock(&lock) else {
            continue;
        };
        let kept = dir.join(KEPT_MARKER).exists() && !include_kept;
        let removed = if dry_run || kept {
            Ok(())
        } else {
            remove_tree(&dir)
        };
        found.push(Stale { dir, kept, removed });
    }
    Ok(found)
}
