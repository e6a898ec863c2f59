//! Edge cases found in review: values with separators on the command line, references that
//! buildah would only reject after the build, paths that are not UTF-8, and a buildrunner
//! killed outright (its buildah must die with it, and `gc` must then clean up).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn build(work: &std::path::Path, args: &[&str]) -> std::process::Output {
    run(Command::new(bin())
        .arg("build")
        .args(args)
        .env("BUILDRUNNER_WORK_DIR", work.join("runs"))
        .env_remove("BUILDRUNNER_BUILD_ARG")
        .env_remove("REGISTRY_AUTH_FILE"))
}

#[test]
fn a_command_line_value_is_never_split_on_commas() {
    if !require(is_root(), "not root: builds here run as root")
        || !require(have("buildah"), "buildah is not installed")
    {
        return;
    }
    let base = busybox_base();
    let work = tempfile::tempdir().unwrap();
    let o = build(
        work.path(),
        &[
            "--log-format",
            "plain",
            "--result",
            work.path().join("r.json").to_str().unwrap(),
            "--build-arg",
            &format!("BASE=oci-archive:{}", base.display()),
            "--build-arg",
            "NO_PROXY=localhost,127.0.0.1",
            "--label",
            "desc=a,b=c",
            repo().join("tests/fixtures/run-step").to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(
        log.contains("--build-arg NO_PROXY=localhost,127.0.0.1"),
        "{log}"
    );
    assert!(log.contains("--label desc=a,b=c"), "{log}");
}

#[test]
fn references_buildah_would_reject_late_are_refused_up_front() {
    let work = tempfile::tempdir().unwrap();
    let ctx = repo().join("tests/fixtures/run-step");
    let digest = format!("localhost:5000/a/b@sha256:{}", "0".repeat(64));
    for args in [
        vec!["-t", digest.as_str()],
        vec!["--cache-repo", "localhost:5000/cache/app:v1"],
    ] {
        let mut all = args.clone();
        all.push(ctx.to_str().unwrap());
        let o = build(work.path(), &all);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("hint: "),
            "{}",
            text(&o)
        );
    }
}

#[test]
fn a_path_that_is_not_utf8_is_an_error_not_a_panic() {
    use std::os::unix::ffi::OsStrExt;
    let work = tempfile::tempdir().unwrap();
    let weird = std::ffi::OsStr::from_bytes(b"/tmp/no-such-\xff-context");
    let result = work.path().join("r.json");
    let o = run(Command::new(bin())
        .arg("build")
        .arg("--result")
        .arg(&result)
        .arg(weird)
        .env("BUILDRUNNER_WORK_DIR", work.path().join("runs")));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&result).unwrap()).unwrap();
    assert_eq!(r["status"], "invalid");
}

#[test]
fn buildah_dies_with_a_killed_buildrunner_and_gc_then_cleans_up() {
    if !require(is_root(), "not root: builds here run as root")
        || !require(have("buildah"), "buildah is not installed")
    {
        return;
    }
    let base = busybox_base();
    let work = tempfile::tempdir().unwrap();
    let runs = work.path().join("runs");
    let mut child = Command::new(bin())
        .args(["build", "--log-format", "plain", "--result"])
        .arg(work.path().join("r.json"))
        .arg("--build-arg")
        .arg(format!("BASE=oci-archive:{}", base.display()))
        .arg("--build-arg")
        .arg("NAP=63")
        .arg(repo().join("tests/fixtures/slow-step"))
        .env("BUILDRUNNER_WORK_DIR", &runs)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "the slow step never started");
        match lines.next() {
            Some(Ok(l)) if l.contains("started-slow-step") => break,
            Some(_) => {}
            None => panic!("buildrunner ended before the slow step"),
        }
    }
    // SIGKILL buildrunner alone: no handler runs, only the kernel's parent-death signal.
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
    let gone = Instant::now() + Duration::from_secs(10);
    while !String::from_utf8_lossy(&run(Command::new("pgrep").args(["-f", "sleep 63"])).stdout)
        .trim()
        .is_empty()
    {
        assert!(
            Instant::now() < gone,
            "the RUN step outlived its buildrunner"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = run(Command::new(bin())
        .arg("gc")
        .env("BUILDRUNNER_WORK_DIR", &runs));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let left: Vec<_> = std::fs::read_dir(&runs)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "gc left {left:?}: {}", text(&o));
}
