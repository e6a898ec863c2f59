//! Runs a child (buildah) in its own process group under a supervisor that streams its
//! output line by line to the log, keeps the last lines for the result, watches the storage
//! filesystem's usage, and stops the whole group on SIGINT/SIGTERM (SIGTERM, then SIGKILL
//! after a grace period). stdout and stderr are read on their own threads so a chatty child
//! never blocks on a full pipe.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
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
    /// Peak growth of the storage filesystem's used bytes while the child ran.
    pub peak_bytes: u64,
}

fn used_bytes(path: &Path) -> Option<u64> {
    let v = nix::sys::statvfs::statvfs(path).ok()?;
    #[allow(clippy::unnecessary_cast)] // field types differ between architectures
    let (blocks, free, frag) = (
        v.blocks() as u64,
        v.blocks_free() as u64,
        v.fragment_size() as u64,
    );
    Some(blocks.saturating_sub(free) * frag)
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
pub fn run(
    program: &Path,
    argv: &[OsString],
    env: &[(&str, OsString)],
    log: &Logger,
    watch: &Path,
) -> std::io::Result<Finished> {
    let mut cmd = Command::new(program);
    cmd.args(argv)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
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

    let base = used_bytes(watch).unwrap_or(0);
    let mut peak = 0u64;
    let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL);
    let mut interrupted = None;
    let mut kill_at: Option<Instant> = None;
    let mut status = None;
    let mut last_sample = Instant::now();
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
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                if status.is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        if last_sample.elapsed() >= Duration::from_millis(250) {
            last_sample = Instant::now();
            if let Some(u) = used_bytes(watch) {
                peak = peak.max(u.saturating_sub(base));
            }
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
    if let Some(u) = used_bytes(watch) {
        peak = peak.max(u.saturating_sub(base));
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
        peak_bytes: peak,
    })
}
