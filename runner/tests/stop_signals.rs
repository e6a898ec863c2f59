//! Clean stops: Nomad sends SIGTERM to PID 1 and SIGKILL `kill_timeout` later. A build that
//! gets SIGTERM (or SIGINT) stops buildah's whole process group, writes its result with
//! status `aborted`, removes its per-run storage and exits 143 (130), well inside Nomad's
//! default 5 s.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn stop_with(signal: i32, want_code: i32, nap: u32) {
    if !require(is_root(), "not root: builds here run as root")
        || !require(have("buildah"), "buildah is not installed")
    {
        return;
    }
    let base = busybox_base();
    let work = tempfile::tempdir().unwrap();
    let result = work.path().join("result.json");
    let mut child = Command::new(bin())
        .args(["build", "--log-format", "plain", "--result"])
        .arg(&result)
        .arg("--build-arg")
        .arg(format!("BASE=oci-archive:{}", base.display()))
        .arg("--build-arg")
        .arg(format!("NAP={nap}"))
        .arg(repo().join("tests/fixtures/slow-step"))
        .env("BUILDRUNNER_WORK_DIR", work.path().join("runs"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut log = Vec::new();
    while !log.iter().any(|l: &String| l.contains("started-slow-step")) {
        assert!(
            Instant::now() < deadline,
            "the slow step never started: {log:#?}"
        );
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            log.push(l);
        }
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, signal) };
    let sent = Instant::now();
    let status = child.wait().unwrap();
    let took = sent.elapsed();
    log.extend(rx.try_iter());
    assert_eq!(status.code(), Some(want_code), "{log:#?}");
    assert!(
        took < Duration::from_secs(5),
        "stopping took {took:?}, Nomad kills after 5 s"
    );
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&result).unwrap()).unwrap();
    assert_eq!(r["status"], "aborted");
    assert_eq!(r["exit_code"], want_code);
    assert_eq!(r["error"]["kind"], "signal");
    // No buildah left running for this build, and its storage is gone.
    let runs = work.path().join("runs");
    let left: Vec<_> = std::fs::read_dir(&runs)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "per-run storage left: {left:?}");
    let ps = run(Command::new("pgrep").args(["-f", &format!("sleep {nap}")]));
    assert!(
        String::from_utf8_lossy(&ps.stdout).trim().is_empty(),
        "the RUN step is still running"
    );
}

#[test]
fn sigterm_stops_the_build_and_writes_an_aborted_result() {
    stop_with(libc::SIGTERM, 143, 61);
}

#[test]
fn sigint_stops_the_build_with_130() {
    stop_with(libc::SIGINT, 130, 62);
}
