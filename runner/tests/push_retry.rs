//! Push retries (issue 4, point 4): a transient failure (nothing listening) is retried with
//! exponential backoff — 4 attempts, waiting 1, 2 and 4 s — and then fails with exit 5; an
//! auth failure is not retried (tests/build_registry.rs).

mod common;

use std::process::Command;

use common::*;

#[test]
fn transient_push_failures_are_retried_with_exponential_backoff() {
    if !require(is_root(), "not root: builds here run as root")
        || !require(have("buildah"), "buildah is not installed")
    {
        return;
    }
    // A port nothing listens on: connection refused, a transient error.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = busybox_base();
    let work = tempfile::tempdir().unwrap();
    let result = work.path().join("result.json");
    let o = run(Command::new(bin())
        .args([
            "build",
            "--log-format",
            "plain",
            "--push",
            "--tls-verify",
            "false",
            "-t",
        ])
        .arg(format!("localhost:{port}/retry/app:1"))
        .arg("--result")
        .arg(&result)
        .arg("--build-arg")
        .arg(format!("BASE=oci-archive:{}", base.display()))
        .arg(repo().join("tests/fixtures/run-step"))
        .env("BUILDRUNNER_WORK_DIR", work.path().join("runs"))
        .env_remove("REGISTRY_AUTH_FILE"));
    let log = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    let waits: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("failed (transient); retrying in"))
        .collect();
    assert_eq!(waits.len(), 3, "{log}");
    for (w, secs) in waits.iter().zip(["1s", "2s", "4s"]) {
        assert!(w.ends_with(&format!("retrying in {secs}")), "{w}");
    }
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&result).unwrap()).unwrap();
    assert_eq!(r["status"], "push_failed");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("after retries"),
        "{}",
        r["error"]
    );
}
