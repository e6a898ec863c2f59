//! Runs a child (buildah) in its own process group under a supervisor that streams its
//! output line by line to the log, keeps the last lines for the result, and stops the whole
//! group on SIGINT/SIGTERM (SIGTERM, then SIGKILL after a grace period). Disk use is watched
//! beside it by `diskwatch`. stdout and stderr are read on their own threads so a chatty child
//! never blocks on a full pipe.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::io::RawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::logs::Logger;
use super::signals;

/// How many of the child's last lines the result keeps.
pub const TAIL: usize = 40;

#[derive(Debug)]
pub struct Finished {
    /// Exit code, or 128 + signal when the child died of one.
    pub code: i32,
    /// The signal that made us stop the child, if any.
    pub interrupted: Option<i32>,
    pub tail: Vec<String>,
}

impl Finished {
    /// The child's last non-empty line: what an error message quotes.
    pub fn last_line(&self) -> String {
        self.tail
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .cloned()
            .unwrap_or_default()
    }
}

fn pump<R: Read + Send + 'static>(
    r: R,
    stream: &'static str,
    tx: mpsc::Sender<(&'static str, String)>,
) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(r);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf)
                        .trim_end_matches(['\n', '\r'])
                        .to_string();
                    if tx.send((stream, line)).is_err() {
                        break;
                    }
                }
            }
        }
    });
}

/// Runs `program argv` with `env`, supervised.
///
/// The child dies with us (`PR_SET_PDEATHSIG`), and inherits `hold_fds` (the run's locks):
/// while any process of the build lives, `gc` cannot take the lock and remove its storage.
pub fn run(
    program: &Path,
    argv: &[OsString],
    env: &[(&str, OsString)],
    hold_fds: &[RawFd],
    log: &Logger,
) -> std::io::Result<Finished> {
    let mut cmd = Command::new(program);
    cmd.args(argv)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let fds = hold_fds.to_vec();
    // SAFETY: between fork and exec only async-signal-safe calls (prctl, fcntl).
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            for &fd in &fds {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags >= 0 {
                    libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
                }
            }
            Ok(())
        });
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn()?;
    let pgid = child.id() as i32;
    let (tx, rx) = mpsc::channel();
    if let Some(o) = child.stdout.take() {
        pump(o, "stdout", tx.clone());
    }
    if let Some(e) = child.stderr.take() {
        pump(e, "stderr", tx.clone());
    }
    drop(tx);

    let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL);
    let mut interrupted = None;
    let mut kill_at: Option<Instant> = None;
    let mut status = None;
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok((stream, line)) => {
                log.child(stream, &line);
                if tail.len() == TAIL {
                    tail.pop_front();
                }
                tail.push_back(log.redact(&line));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            // Both pipes closed: the child is exiting; wait for it below.
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if let (None, Some(sig)) = (interrupted, signals::received()) {
            interrupted = Some(sig);
            log.event(&format!(
                "signal {sig}: stopping buildah (SIGTERM, SIGKILL in {}s)",
                signals::GRACE.as_secs()
            ));
            // SAFETY: signalling the child's own process group.
            unsafe { libc::kill(-pgid, libc::SIGTERM) };
            kill_at = Some(Instant::now() + signals::GRACE);
        }
        if kill_at.is_some_and(|t| Instant::now() >= t) {
            // SAFETY: as above.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
            kill_at = None;
        }
        if status.is_none() {
            status = child.try_wait()?;
            if let Some(st) = status {
                // Anything the child left in its group goes with it.
                // SAFETY: as above; ESRCH when the group is already empty.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
                let _ = st;
            }
        }
    }
    let st = match status {
        Some(s) => s,
        None => child.wait()?,
    };
    let code = st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0));
    Ok(Finished {
        code,
        interrupted,
        tail: tail.into_iter().collect(),
    })
}
