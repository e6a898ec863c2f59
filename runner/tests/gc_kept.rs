//! `gc` removes only what nobody wants: a run kept with `--keep-storage` stays until
//! `gc --include-kept`.

mod common;

use std::process::Command;

use common::*;

#[test]
fn gc_keeps_runs_kept_on_purpose_until_asked() {
    if !require(is_root(), "not root: builds here run as root")
        || !require(have("buildah"), "buildah is not installed")
    {
        return;
    }
    let base = busybox_base();
    let work = tempfile::tempdir().unwrap();
    let runs = work.path().join("runs");
    let o = run(Command::new(bin())
        .args(["build", "--keep-storage", "--result"])
        .arg(work.path().join("r.json"))
        .arg("--build-arg")
        .arg(format!("BASE=oci-archive:{}", base.display()))
        .arg(repo().join("tests/fixtures/run-step"))
        .env("BUILDRUNNER_WORK_DIR", &runs));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let count = || std::fs::read_dir(&runs).map(|d| d.count()).unwrap_or(0);
    assert_eq!(count(), 1);
    let gc = |extra: &[&str]| {
        run(Command::new(bin())
            .arg("gc")
            .args(extra)
            .env("BUILDRUNNER_WORK_DIR", &runs))
    };
    let o = gc(&[]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("kept "),
        "{}",
        text(&o)
    );
    assert_eq!(count(), 1, "a kept run must survive plain gc");
    let o = gc(&["--include-kept"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(count(), 0, "gc --include-kept removes it: {}", text(&o));
}
