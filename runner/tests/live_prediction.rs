//! The doctor's prediction checked against reality (issue 3, point 7): in each environment,
//! run `buildrunner doctor --format json`, then have buildah really build a fixture with
//! `RUN` steps using exactly the decided driver, mount program, isolation and layer policy.
//! A `blocked` verdict must mean buildah cannot build there; any other verdict must mean the
//! decided configuration builds.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::Value;

/// The buildah words for a decision (`--root`/`--runroot` under `store`).
fn buildah_args(decision: &Value, store: &Path, base: &str, ctx: &str) -> Vec<String> {
    let mut a = vec![
        "--root".to_string(),
        store.join("root").display().to_string(),
        "--runroot".into(),
        store.join("run").display().to_string(),
        "--storage-driver".into(),
        decision["storage_driver"].as_str().unwrap().to_string(),
    ];
    if let Some(mp) = decision["mount_program"].as_str() {
        a.push("--storage-opt".into());
        a.push(format!("overlay.mount_program={mp}"));
    }
    a.extend([
        "bud".to_string(),
        "--isolation".into(),
        decision["isolation"].as_str().unwrap().to_string(),
        format!("--layers={}", decision["layers"].as_bool().unwrap()),
        "--build-arg".into(),
        format!("BASE=oci-archive:{base}"),
        "-t".into(),
        "localhost/doctor-check:latest".into(),
        ctx.to_string(),
    ]);
    a
}

struct Outcome {
    verdict: String,
    decision: Value,
    built: bool,
    log: String,
}

impl Outcome {
    fn new(
        report: &Value,
        doctor: &std::process::Output,
        args: &[String],
        buildah: &std::process::Output,
    ) -> Self {
        Outcome {
            verdict: report["verdict"].as_str().unwrap_or("").to_string(),
            decision: report["decision"].clone(),
            built: buildah.status.success(),
            log: format!(
                "doctor:\n{}\nbuildah {args:?}:\n{}",
                String::from_utf8_lossy(&doctor.stdout),
                text(buildah)
            ),
        }
    }
}

fn check(env: &str, o: &Outcome) {
    eprintln!(
        "{env}: predicted {} ({} / {} / userns {}), buildah {}",
        o.verdict,
        o.decision["storage_driver"],
        o.decision["isolation"],
        o.decision["userns"],
        if o.built { "built" } else { "failed" }
    );
    assert_eq!(
        o.verdict != "blocked",
        o.built,
        "{env}: the doctor's verdict disagrees with buildah:\n{}",
        o.log
    );
}

/// Runs doctor then buildah on this machine, through `prefix` (e.g. `runuser -u USER --`).
fn on_host(prefix: &[&str], store: &Path) -> Outcome {
    let base = busybox_base();
    let ctx = repo().join("tests/fixtures/run-step");
    let cmd = |program: &Path, args: &[String]| {
        let mut c = Command::new(prefix.first().copied().unwrap_or(program.to_str().unwrap()));
        if !prefix.is_empty() {
            c.args(&prefix[1..]).arg(program);
        }
        c.args(args).env("NO_COLOR", "1");
        c
    };
    let d = run(&mut cmd(
        &bin(),
        &[
            "doctor".into(),
            "--format".into(),
            "json".into(),
            "--storage-root".into(),
            store.join("root").display().to_string(),
        ],
    ));
    let report: Value =
        serde_json::from_slice(&d.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&d)));
    let args = buildah_args(
        &report["decision"],
        store,
        base.to_str().unwrap(),
        ctx.to_str().unwrap(),
    );
    let b = run(&mut cmd(Path::new("buildah"), &args));
    Outcome::new(&report, &d, &args, &b)
}

fn host_ready() -> bool {
    require(is_root(), "not root: live environments are set up as root")
        && require(have("buildah"), "buildah is not installed")
}

#[test]
fn as_root() {
    if !host_ready() {
        return;
    }
    let store = open_tempdir();
    let o = on_host(&[], store.path());
    check("root", &o);
    assert_eq!(o.decision["userns"], false);
}

#[test]
fn as_root_without_sys_admin() {
    if !host_ready() || !require(have("setpriv"), "setpriv (util-linux) is not installed") {
        return;
    }
    let store = open_tempdir();
    let o = on_host(
        &[
            "setpriv",
            "--bounding-set=-sys_admin",
            "--inh-caps=-sys_admin",
            "--",
        ],
        store.path(),
    );
    check("root without SYS_ADMIN", &o);
    assert_eq!(
        o.decision["userns"], true,
        "buildah re-execs into a user namespace without SYS_ADMIN"
    );
}

fn as_user(user: &str) -> Option<Outcome> {
    if !host_ready() || !require(have("runuser"), "runuser is not installed") {
        return None;
    }
    let uid = uid_of(user);
    if !require(
        uid.is_some(),
        &format!("user {user} does not exist (.ci/run creates it)"),
    ) {
        return None;
    }
    let store = open_tempdir();
    chown_r(store.path(), uid?);
    let home = format!("HOME=/tmp/br-home-{user}");
    std::fs::create_dir_all(format!("/tmp/br-home-{user}")).ok();
    chown_r(Path::new(&format!("/tmp/br-home-{user}")), uid?);
    let o = on_host(
        &[
            "runuser",
            "-u",
            user,
            "--",
            "env",
            &home,
            "XDG_RUNTIME_DIR=",
            "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        ],
        store.path(),
    );
    // Leave nothing owned by the user's subordinate ids behind.
    let _ = std::fs::remove_dir_all(store.path());
    Some(o)
}

#[test]
fn as_unprivileged_user_with_subuid_ranges() {
    let Some(o) = as_user("brsub") else { return };
    check("user with subuid ranges", &o);
    assert_eq!(o.decision["userns"], true);
    assert_eq!(o.verdict, "ok", "{}", o.log);
}

#[test]
fn as_unprivileged_user_without_subuid_ranges() {
    let Some(o) = as_user("brtest") else { return };
    check("user without subuid ranges", &o);
    assert_eq!(
        o.verdict, "blocked",
        "a single id mapping cannot run RUN steps: {}",
        o.log
    );
}

/// Runs doctor then buildah inside one container started with `flags`, via `docker exec`, so
/// both see the same confinement.
fn in_docker(flags: &[&str]) -> Option<Outcome> {
    if !require(docker_ok(), "the Docker engine is not reachable") {
        return None;
    }
    let base = busybox_base();
    let image = docker_test_image();
    let ctx = repo().join("tests/fixtures/run-step");
    let mut c = Command::new("docker");
    c.args(["run", "-d", "--rm"]).args(flags).args([
        "-v",
        &format!("{}:/usr/local/bin/buildrunner:ro", bin().display()),
        "-v",
        &format!("{}:/fixtures:ro", base.parent().unwrap().display()),
        "-v",
        &format!("{}:/ctx:ro", ctx.display()),
        &image,
        "sleep",
        "600",
    ]);
    let started = run(&mut c);
    assert!(started.status.success(), "{}", text(&started));
    let id = String::from_utf8_lossy(&started.stdout).trim().to_string();
    let exec = |args: &[String]| run(Command::new("docker").arg("exec").arg(&id).args(args));
    let d = exec(&[
        "buildrunner".into(),
        "doctor".into(),
        "--format".into(),
        "json".into(),
    ]);
    let report: Result<Value, _> = serde_json::from_slice(&d.stdout);
    let outcome = report.map(|report| {
        let args = buildah_args(
            &report["decision"],
            Path::new("/var/lib/containers/storage"),
            "/fixtures/busybox.oci.tar",
            "/ctx",
        );
        let mut full = vec!["buildah".to_string()];
        full.extend(args.clone());
        let b = exec(&full);
        Outcome::new(&report, &d, &args, &b)
    });
    let _ = run(Command::new("docker").args(["rm", "-f", "-v", &id]));
    Some(outcome.unwrap_or_else(|e| panic!("doctor output is not JSON ({e}): {}", text(&d))))
}

/// The image with buildah inside, made from this host's packages by
/// `tests/support/docker-test-image.sh` (no registry needed).
fn docker_test_image() -> String {
    let tag =
        std::env::var("BUILDRUNNER_TEST_IMAGE").unwrap_or_else(|_| "buildrunner-test:local".into());
    let o = run(Command::new("bash")
        .arg(repo().join("tests/support/docker-test-image.sh"))
        .arg(&tag));
    assert!(
        o.status.success(),
        "docker-test-image.sh failed: {}",
        text(&o)
    );
    tag
}

#[test]
fn in_docker_with_default_confinement() {
    let Some(o) = in_docker(&[]) else { return };
    check("docker defaults", &o);
    assert_eq!(o.verdict, "blocked");
    // The probe tells the seccomp filter apart from the kernel (unshare(0x1) → EPERM, not EINVAL).
    assert!(
        o.log.contains(
            "unshare failed: EPERM (Operation not permitted), refused by the seccomp filter"
        ),
        "{}",
        o.log
    );
    assert!(
        o.log.contains("unshare"),
        "buildah should fail on unshare: {}",
        o.log
    );
}

#[test]
fn in_docker_with_sys_admin() {
    let Some(o) = in_docker(&["--cap-add", "SYS_ADMIN"]) else {
        return;
    };
    check("docker --cap-add SYS_ADMIN", &o);
    assert_ne!(o.verdict, "blocked");
}

#[test]
fn in_docker_with_sys_admin_and_a_storage_volume() {
    // An anonymous volume (removed with the container) on the host's ext4.
    let Some(o) = in_docker(&["--cap-add", "SYS_ADMIN", "-v", "/var/lib/containers"]) else {
        return;
    };
    check("docker --cap-add SYS_ADMIN -v /var/lib/containers", &o);
    assert_eq!(o.verdict, "ok", "{}", o.log);
    assert_eq!(o.decision["storage_driver"], "overlay");
    assert!(
        o.decision["mount_program"].is_null(),
        "native overlay on a volume"
    );
}
