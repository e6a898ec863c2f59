//! The parent side of a live probe: start the child in its own process group, write its id
//! maps the way buildah would, bound it in time, and always clean its directory up.
//!
//! Id maps mirror containers/storage `pkg/unshare`: root writes `/proc/PID/{uid,gid}_map`
//! itself, reusing the ids of its own namespace; anyone else runs `newuidmap`/`newgidmap`
//! with their own id plus the subordinate ranges, and when the helpers fail falls back to a
//! single mapping of their own id (after `setgroups deny`), as buildah does.

// A failed spawn is reported as the probe's outcome; a few per run, size is irrelevant.
#![allow(clippy::result_large_err)]

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::outcome::{IdMapOutcome, ProbeOutcome, ProbeResult};
use crate::host::idmap::{IdMapLine, SubIdRange};

/// What the parent needs to map a child's user namespace.
#[derive(Debug, Clone)]
pub struct MapPlan {
    pub euid: u32,
    pub egid: u32,
    pub uid_map: Vec<IdMapLine>,
    pub gid_map: Vec<IdMapLine>,
    pub subuid: Vec<SubIdRange>,
    pub subgid: Vec<SubIdRange>,
    pub newuidmap: Option<PathBuf>,
    pub newgidmap: Option<PathBuf>,
}

/// One probe child to run: the probes it runs (see `child::PROBE_KINDS`) in one set of
/// namespaces.
#[derive(Debug, Clone)]
pub struct ProbeSpec {
    pub kinds: Vec<&'static str>,
    pub mode: &'static str,
    /// A fresh, empty directory the probe may fill; removed afterwards by the caller.
    pub dir: PathBuf,
}

/// Runs the probes concurrently (each in its own single-threaded child) and returns their
/// outcomes, one list per spec, one outcome per kind. Never takes longer than `timeout`.
pub fn run_probes(
    exe: &Path,
    specs: &[ProbeSpec],
    map: &MapPlan,
    timeout: Duration,
) -> Vec<Vec<ProbeOutcome>> {
    let deadline = Instant::now() + timeout;
    let handles: Vec<_> = specs
        .iter()
        .map(|spec| {
            let (tx, rx) = mpsc::channel();
            let spawned = Command::new(exe)
                .arg(super::child::PROBE_SUBCOMMAND)
                .args([spec.kinds.join(",").as_str(), spec.mode])
                .arg(&spec.dir)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn();
            match spawned {
                Err(e) => Err(ProbeOutcome::other(
                    ProbeResult::Failed,
                    spec.mode,
                    "spawn",
                    format!("cannot start {}: {e}", exe.display()),
                )),
                Ok(mut child) => {
                    let pid = child.id();
                    let stdin = child.stdin.take();
                    let stdout = child.stdout.take();
                    let (mode, map, n) = (spec.mode, map.clone(), spec.kinds.len());
                    std::thread::spawn(move || {
                        let _ = tx.send(converse(pid, mode, n, stdin, stdout, &map));
                    });
                    Ok((child, rx))
                }
            }
        })
        .collect();
    handles
        .into_iter()
        .zip(specs)
        .map(|(h, spec)| {
            let started = Instant::now();
            let mut outcomes = match h {
                Err(o) => vec![o; spec.kinds.len()],
                Ok((child, rx)) => finish(child, rx, deadline, spec),
            };
            for o in &mut outcomes {
                o.elapsed_us = started.elapsed().as_micros() as u64;
            }
            outcomes
        })
        .collect()
}

fn finish(
    mut child: Child,
    rx: mpsc::Receiver<Vec<ProbeOutcome>>,
    deadline: Instant,
    spec: &ProbeSpec,
) -> Vec<ProbeOutcome> {
    let wait = deadline.saturating_duration_since(Instant::now());
    let outcomes = rx.recv_timeout(wait).unwrap_or_else(|_| {
        // SAFETY: kill(2) on the child's own process group (it was started with pgid = pid);
        // its grandchildren die with it (PR_SET_PDEATHSIG).
        unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
        let o = ProbeOutcome::other(
            ProbeResult::Timeout,
            spec.mode,
            "run",
            "probe did not finish in time".into(),
        );
        vec![o; spec.kinds.len()]
    });
    let _ = child.wait();
    outcomes
}

/// Talks to one child: maps its namespace on `READY`, then reads its outcome line.
fn converse(
    pid: u32,
    mode: &str,
    kinds: usize,
    stdin: Option<std::process::ChildStdin>,
    stdout: Option<std::process::ChildStdout>,
    map: &MapPlan,
) -> Vec<ProbeOutcome> {
    let (Some(mut stdin), Some(stdout)) = (stdin, stdout) else {
        let o = ProbeOutcome::other(ProbeResult::Failed, mode, "spawn", "no pipes".into());
        return vec![o; kinds];
    };
    let mut idmap = None;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if line == "READY" {
            let (answer, outcome) = match write_maps(pid, map) {
                Ok(o) => ("GO".to_string(), Some(o)),
                Err(e) => (format!("ABORT {e}"), None),
            };
            idmap = outcome;
            let _ = writeln!(stdin, "{answer}");
            let _ = stdin.flush();
            continue;
        }
        if let Ok(mut outcomes) = serde_json::from_str::<Vec<ProbeOutcome>>(&line) {
            if outcomes.len() == kinds {
                for o in &mut outcomes {
                    o.idmap.clone_from(&idmap);
                }
                return outcomes;
            }
        }
    }
    let o = ProbeOutcome::other(
        ProbeResult::Failed,
        mode,
        "run",
        "probe child exited without reporting".into(),
    );
    vec![o; kinds]
}

fn write_file(path: &str, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("write {path}: {e}"))
}

fn identity(map: &[IdMapLine]) -> (String, u64) {
    let text = map
        .iter()
        .map(|m| format!("{} {} {}\n", m.inside, m.inside, m.count))
        .collect();
    (text, map.iter().map(|m| m.count as u64).sum())
}

/// Writes the child's maps the way buildah would; see the module header.
pub fn write_maps(pid: u32, map: &MapPlan) -> Result<IdMapOutcome, String> {
    let proc_pid = format!("/proc/{pid}");
    if map.euid == 0 {
        let (u, uids) = identity(&map.uid_map);
        let (g, gids) = identity(&map.gid_map);
        write_file(&format!("{proc_pid}/uid_map"), &u)?;
        write_file(&format!("{proc_pid}/gid_map"), &g)?;
        return Ok(IdMapOutcome {
            method: "direct".into(),
            uids,
            gids,
            helper_error: None,
        });
    }
    let helpers = run_helper(
        map.newuidmap.as_deref(),
        "newuidmap",
        pid,
        map.euid,
        &map.subuid,
    )
    .and_then(|u| {
        run_helper(
            map.newgidmap.as_deref(),
            "newgidmap",
            pid,
            map.egid,
            &map.subgid,
        )
        .map(|g| (u, g))
    });
    match helpers {
        Ok((uids, gids)) => Ok(IdMapOutcome {
            method: "helpers".into(),
            uids,
            gids,
            helper_error: None,
        }),
        Err(helper_error) => {
            // A failed newuidmap may have written the uid map already; then only the gid
            // side needs the fallback.
            let uid_done = fs::read_to_string(format!("{proc_pid}/uid_map"))
                .map(|t| !t.trim().is_empty())
                .unwrap_or(false);
            if !uid_done {
                write_file(
                    &format!("{proc_pid}/uid_map"),
                    &format!("0 {} 1\n", map.euid),
                )?;
            }
            write_file(&format!("{proc_pid}/setgroups"), "deny")?;
            write_file(
                &format!("{proc_pid}/gid_map"),
                &format!("0 {} 1\n", map.egid),
            )?;
            Ok(IdMapOutcome {
                method: "single".into(),
                uids: 1,
                gids: 1,
                helper_error: Some(helper_error),
            })
        }
    }
}

/// `newuidmap PID 0 UID 1 1 START COUNT …`: our own id becomes 0, the ranges follow.
fn run_helper(
    helper: Option<&Path>,
    name: &str,
    pid: u32,
    own: u32,
    ranges: &[SubIdRange],
) -> Result<u64, String> {
    let helper = helper.ok_or_else(|| format!("{name} not found"))?;
    let mut args = vec![pid.to_string(), "0".into(), own.to_string(), "1".into()];
    let mut next = 1u64;
    for r in ranges {
        args.extend([next.to_string(), r.start.to_string(), r.count.to_string()]);
        next += r.count as u64;
    }
    let out = Command::new(helper)
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", helper.display()))?;
    if out.status.success() {
        Ok(next)
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(format!(
            "{name} {}: {}",
            out.status,
            err.trim().lines().last().unwrap_or("")
        ))
    }
}
