//! Shared helpers for the binary's integration tests: finding the binary and the repo,
//! requiring root/tools (fail loudly under `CI=true`, skip with a printed reason locally),
//! and the busybox base image built by `tests/support/busybox-base.sh`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_buildrunner"))
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Returns false (after printing why) when a requirement is missing locally; panics in CI.
pub fn require(ok: bool, what: &str) -> bool {
    if ok {
        return true;
    }
    if in_ci() {
        panic!("CI=true but {what}: this test must run in CI (see .ci/run)");
    }
    eprintln!("SKIP: {what}");
    false
}

pub fn is_root() -> bool {
    // SAFETY: geteuid never fails.
    unsafe { libc::geteuid() == 0 }
}

pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

pub fn docker_ok() -> bool {
    Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// uid of a local user, if it exists.
pub fn uid_of(user: &str) -> Option<u32> {
    let o = Command::new("id").args(["-u", user]).output().ok()?;
    String::from_utf8_lossy(&o.stdout)
        .trim()
        .parse()
        .ok()
        .filter(|_| o.status.success())
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

pub fn text(o: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Directory shared by tests for built support artefacts (`target/test-support`).
pub fn support_dir() -> PathBuf {
    let d = repo().join("target/test-support");
    std::fs::create_dir_all(&d).expect("create target/test-support");
    d
}

/// The busybox base image as an OCI archive (made once; the script locks and caches), in
/// `$BUILDRUNNER_FIXTURES` (set by .ci/run) or `target/test-support`.
pub fn busybox_base() -> PathBuf {
    let dir = std::env::var_os("BUILDRUNNER_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(support_dir);
    let o = run(Command::new("bash")
        .arg(repo().join("tests/support/busybox-base.sh"))
        .arg(&dir));
    assert!(o.status.success(), "busybox-base.sh failed: {}", text(&o));
    dir.join("busybox.oci.tar")
}

/// A directory world-readable tests can hand to another user or a container.
pub fn open_tempdir() -> tempfile::TempDir {
    let d = tempfile::Builder::new()
        .prefix("br-test-")
        .tempdir_in("/tmp")
        .expect("tempdir");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    d
}

pub fn chown_r(path: &Path, uid: u32) {
    let o = run(Command::new("chown")
        .arg("-R")
        .arg(format!("{uid}:{uid}"))
        .arg(path));
    assert!(o.status.success(), "{}", text(&o));
}
