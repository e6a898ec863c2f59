//! `buildrunner build` and `buildrunner gc` without a registry (issue 4): bad input gets exit 2
//! with a one-line error and hint and an `invalid` result; every option can come from the
//! environment; a failing step gives exit 1 and its output in the result's log tail; per-run
//! storage is removed (or kept with --keep-storage); SIGTERM aborts cleanly; `gc` removes the
//! root of a killed run and only that.
//!
//! Per-run roots are put under a test-owned `BUILDRUNNER_WORK_DIR`, which must be empty again
//! after every run that does not keep its storage.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::Value;

/// Root and buildah: what a real build needs here.
fn can_build() -> bool {
    require(
        is_root(),
        "build tests need root (run as root, or CI=true via .ci/run)",
    ) && require(
        have("buildah"),
        "buildah is not installed (apt-get install buildah)",
    ) && require(
        have("busybox"),
        "busybox-static is not installed (base image)",
    )
}

/// Runs a build expected to be rejected as bad input; checks exit 2, the one-line error and
/// hint on stderr, the `invalid` result and that no per-run root is left. Returns (hint,
/// result).
fn rejected(context: &Path, args: &[&str]) -> (String, Value) {
    rejected_with(context, args, &[])
}

/// [`rejected`] with extra environment variables.
fn rejected_with(context: &Path, args: &[&str], envs: &[(&str, &str)]) -> (String, Value) {
    let s = Scratch::new();
    let work = s.join("work");
    let result = s.join("result.json");
    let o = run(br("build", &work)
        .envs(envs.iter().copied())
        .arg(context)
        .args(args)
        .arg("--result")
        .arg(&result));
    assert_eq!(
        o.status.code(),
        Some(2),
        "bad input must exit 2: {}",
        text(&o)
    );
    let (_, hint) = one_line_error(&stderr_of(&o));
    let r = read_json(&result);
    assert_eq!(r["schema"], "buildrunner.result/v1", "{r}");
    assert_eq!(r["status"], "invalid", "{r}");
    assert_eq!(r["error"]["kind"], "bad_input", "{r}");
    assert_eq!(r["exit_code"], 2, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "error.message: {r}"
    );
    assert!(
        r["error"]["hint"].as_str().is_some_and(|h| !h.is_empty()),
        "error.hint: {r}"
    );
    assert!(
        r["images"].as_array().map_or(0, Vec::len) == 0,
        "no images for rejected input: {r}"
    );
    let left: Vec<String> = entries(&work)
        .into_iter()
        .filter(|e| e.starts_with("run-"))
        .collect();
    assert!(left.is_empty(), "per-run roots left behind: {left:?}");
    (hint, r)
}

fn valid_args(base: &str) -> Vec<String> {
    vec![
        "--build-arg".into(),
        base.into(),
        "-t".into(),
        "localhost/br-cli/app:1".into(),
    ]
}

#[test]
fn malformed_reference_is_bad_input() {
    let ctx = fixture("run-step");
    let (hint, r) = rejected(&ctx, &["-t", "Bad Ref", "--build-arg", "BASE=x"]);
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("Bad Ref"),
        "the error names the reference: {msg}"
    );
    assert!(!hint.is_empty());
}

#[test]
fn ipv6_literal_reference_is_bad_input_and_the_hint_says_use_a_dns_name() {
    let ctx = fixture("run-step");
    let (hint, _) = rejected(&ctx, &["-t", "[::1]:5000/x", "--build-arg", "BASE=x"]);
    assert!(
        hint.to_lowercase().contains("dns"),
        "buildah rejects IPv6 literals; the hint must point to a DNS name: {hint}"
    );
}

#[test]
fn missing_context_is_bad_input() {
    let s = Scratch::new();
    let (_, r) = rejected(&s.join("no-such-context"), &["-t", "localhost/x:1"]);
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no-such-context"),
        "the error names the context: {r}"
    );
}

#[test]
fn missing_containerfile_is_bad_input() {
    // A context without Containerfile/Dockerfile …
    let s = Scratch::new();
    std::fs::create_dir(s.join("ctx")).unwrap();
    rejected(&s.join("ctx"), &["-t", "localhost/x:1"]);
    // … and an explicit -f that does not exist.
    let missing = s.join("nope/Containerfile");
    let (_, r) = rejected(
        &fixture("run-step"),
        &["-t", "localhost/x:1", "-f", missing.to_str().unwrap()],
    );
    assert!(
        r["error"]["message"].as_str().unwrap().contains("nope"),
        "the error names the file: {r}"
    );
}

#[test]
fn malformed_build_arg_is_bad_input() {
    let (_, r) = rejected(
        &fixture("run-step"),
        &["-t", "localhost/x:1", "--build-arg", "NOEQUALS"],
    );
    assert!(
        r["error"]["message"].as_str().unwrap().contains("NOEQUALS"),
        "the error names the argument: {r}"
    );
}

#[test]
fn unreadable_authfile_is_bad_input() {
    let s = Scratch::new();
    let auth = s.join("missing-auth.json");
    let auth = auth.to_str().unwrap();
    let names_it = |r: &Value| {
        assert!(
            r["error"]["message"]
                .as_str()
                .unwrap()
                .contains("missing-auth.json"),
            "the error names the auth file: {r}"
        )
    };
    let push = ["-t", "localhost:5000/x/y:1", "--push"];
    // --authfile …
    let (_, r) = rejected(
        &fixture("run-step"),
        &[&push[..], &["--authfile", auth]].concat(),
    );
    names_it(&r);
    // … BUILDRUNNER_PUSH + BUILDRUNNER_AUTHFILE …
    let (_, r) = rejected_with(
        &fixture("run-step"),
        &push[..2],
        &[("BUILDRUNNER_PUSH", "true"), ("BUILDRUNNER_AUTHFILE", auth)],
    );
    names_it(&r);
    // … and the documented default, $REGISTRY_AUTH_FILE.
    let (_, r) = rejected_with(&fixture("run-step"), &push, &[("REGISTRY_AUTH_FILE", auth)]);
    names_it(&r);
}

#[test]
fn result_goes_to_the_working_dir_or_the_nomad_alloc_dir_by_default() {
    // ./buildrunner-result.json outside Nomad.
    let s = Scratch::new();
    let o = run(br("build", &s.join("work"))
        .current_dir(s.path())
        .arg(fixture("run-step"))
        .args(["-t", "Bad Ref"]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let r = read_json(&s.join("buildrunner-result.json"));
    assert_eq!(r["status"], "invalid");

    // $NOMAD_ALLOC_DIR/buildrunner-result.json inside Nomad, with the allocation's identity.
    let alloc = s.join("alloc");
    std::fs::create_dir(&alloc).unwrap();
    let o = run(br("build", &s.join("work"))
        .current_dir(s.path())
        .env("NOMAD_ALLOC_DIR", &alloc)
        .env("NOMAD_ALLOC_ID", "5a1d6c2e-0000-4000-8000-000000000001")
        .env("NOMAD_JOB_ID", "image-build/dispatch-1700000000-abcd1234")
        .env("NOMAD_JOB_PARENT_ID", "image-build")
        .env("NOMAD_NAMESPACE", "ci")
        .arg(fixture("run-step"))
        .args(["-t", "Bad Ref"]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let r = read_json(&alloc.join("buildrunner-result.json"));
    assert_eq!(r["status"], "invalid");
    assert_eq!(
        r["nomad"]["alloc_id"], "5a1d6c2e-0000-4000-8000-000000000001",
        "{r}"
    );
    assert_eq!(
        r["nomad"]["job_id"], "image-build/dispatch-1700000000-abcd1234",
        "{r}"
    );
    assert_eq!(r["nomad"]["parent_job_id"], "image-build", "{r}");
    assert_eq!(r["nomad"]["namespace"], "ci", "{r}");
}

/// Every option from `BUILDRUNNER_*` instead of flags: lists comma-separated, secrets
/// semicolon-separated; the image lands in the given storage root (kept), with both tags,
/// both labels and the target's stage; stdout (`--format json`) equals the result file and
/// every log line is JSON (`--log-format json`).
#[test]
fn environment_variables_configure_the_build() {
    if !can_build() {
        return;
    }
    let s = Scratch::new();
    let work = s.join("work");
    let store = s.join("store");
    let result = s.join("result.json");
    let secret = s.join("token");
    std::fs::write(&secret, unique("env-secret")).unwrap();
    let secret2 = s.join("other");
    std::fs::write(&secret2, "unused-second-secret").unwrap();
    let tags = ["localhost/br-env/app:1", "localhost/br-env/app:2"];
    let o = run(br("build", &work)
        .env("BUILDRUNNER_CONTEXT", fixture("build-multistage"))
        .env(
            "BUILDRUNNER_FILE",
            fixture("build-multistage").join("Containerfile"),
        )
        .env("BUILDRUNNER_TAG", tags.join(","))
        .env(
            "BUILDRUNNER_BUILD_ARG",
            format!("{},GREETING=env-config-works", base_arg()),
        )
        .env("BUILDRUNNER_TARGET", "final")
        .env(
            "BUILDRUNNER_LABEL",
            "org.example.source=env,org.example.second=yes",
        )
        .env(
            "BUILDRUNNER_SECRET",
            format!(
                "id=token,src={};id=other,src={}",
                secret.display(),
                secret2.display()
            ),
        )
        .env("BUILDRUNNER_STORAGE_ROOT", &store)
        .env("BUILDRUNNER_RESULT", &result)
        .env("BUILDRUNNER_FORMAT", "json")
        .env("BUILDRUNNER_LOG_FORMAT", "json")
        .env("BUILDRUNNER_TIMESTAMP", "1700000000"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    let r = read_json(&result);
    let printed: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("--format json prints the result: {e}\n{}", text(&o)));
    assert_eq!(printed, r, "stdout and the result file differ");
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(r["exit_code"], 0);
    let refs: Vec<&str> = r["images"]
        .as_array()
        .expect("images")
        .iter()
        .map(|i| i["reference"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(refs, tags, "one image entry per tag, in order: {r}");
    for i in r["images"].as_array().unwrap() {
        assert!(i["digest"].is_null(), "digest is null when not pushed: {r}");
    }

    let log = stderr_of(&o);
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("--log-format json: not JSON ({e}): {line}"));
        assert!(v.is_object(), "log lines are objects: {line}");
    }
    // Outputs of steps, not their command text ($((6*7)) is evaluated by the step).
    assert!(
        log.contains("greeting: ENV-CONFIG-WORKS"),
        "GREETING reached the build:\n{log}"
    );
    assert!(
        log.contains("ignore-file-honoured-42"),
        ".containerignore:\n{log}"
    );
    assert!(
        !log.contains("extra-stage-42"),
        "--target final must not build `extra`:\n{log}"
    );

    // The given storage root is kept and holds the image.
    let graph = find_graph_root(&store)
        .unwrap_or_else(|| panic!("no image store under the kept --storage-root {store:?}"));
    let d = &r["decision"];
    let inspect = |tag: &str| {
        let mut c = Command::new("buildah");
        c.arg("--root")
            .arg(&graph)
            .arg("--runroot")
            .arg(s.join("inspect-run"))
            .arg("--storage-driver")
            .arg(
                d["storage_driver"]
                    .as_str()
                    .expect("decision.storage_driver"),
            );
        if let Some(mp) = d["mount_program"].as_str() {
            c.arg("--storage-opt")
                .arg(format!("overlay.mount_program={mp}"));
        }
        run(c.args(["inspect", "--type", "image", tag]))
    };
    for tag in tags {
        let o = inspect(tag);
        assert!(
            o.status.success(),
            "image {tag} in the kept store: {}",
            text(&o)
        );
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        let labels = &v["OCIv1"]["config"]["Labels"];
        assert_eq!(labels["org.example.source"], "env", "{labels}");
        assert_eq!(labels["org.example.second"], "yes", "{labels}");
        assert_eq!(
            labels["org.example.stage"], "final",
            "--target final: {labels}"
        );
        assert_eq!(
            v["OCIv1"]["created"]
                .as_str()
                .map(|c| c.starts_with("2023-11-14T22:13:20")),
            Some(true),
            "--timestamp 1700000000 sets the creation time: {}",
            v["OCIv1"]["created"]
        );
    }
    let left: Vec<String> = entries(&work)
        .into_iter()
        .filter(|e| e.starts_with("run-"))
        .collect();
    assert!(left.is_empty(), "per-run dirs left: {left:?}");
    // buildah leaves nothing mounted in the kept store once the run is over.
    assert!(
        preflight::host::mountinfo::current_mounts_below(&store).is_empty(),
        "{:?}",
        preflight::host::mountinfo::current_mounts_below(&store)
    );
}

#[test]
fn failing_run_step_exits_1_with_its_output_in_the_log_tail() {
    if !can_build() {
        return;
    }
    let s = Scratch::new();
    let work = s.join("work");
    let result = s.join("result.json");
    let o = run(br("build", &work)
        .arg(fixture("build-fails"))
        .args(valid_args(&base_arg()))
        .arg("--result")
        .arg(&result));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let r = read_json(&result);
    assert_eq!(r["status"], "build_failed", "{r}");
    assert_eq!(r["error"]["kind"], "build", "{r}");
    assert_eq!(r["exit_code"], 1, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{r}"
    );
    let tail: Vec<&str> = r["log_tail"]
        .as_array()
        .expect("log_tail")
        .iter()
        .map(|l| l.as_str().expect("log_tail holds strings"))
        .collect();
    for marker in ["failing-step-output-42", "failing-step-stderr-42"] {
        assert!(
            tail.iter().any(|l| l.contains(marker)),
            "log_tail lacks the failing step's output {marker}: {tail:#?}"
        );
    }
    let log = stderr_of(&o);
    assert!(
        log.contains("first-step-ok-42"),
        "streamed step output:\n{log}"
    );
    assert!(
        entries(&work).iter().all(|e| !e.starts_with("run-")),
        "{:?}",
        entries(&work)
    );
}

#[test]
fn per_run_storage_is_removed_after_the_run() {
    if !can_build() {
        return;
    }
    let s = Scratch::new();
    let work = s.join("work");
    let result = s.join("result.json");
    // Watch the work dir while the build runs: a per-run dir must appear in it (so the check
    // below is not vacuous) and be gone afterwards.
    let mut seen = std::collections::BTreeSet::new();
    let (o, _) = run_probed(
        br("build", &work)
            .arg(fixture("run-step"))
            .args(valid_args(&base_arg()))
            .arg("--result")
            .arg(&result),
        || seen.extend(entries(&work).into_iter().filter(|e| e.starts_with("run-"))),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(read_json(&result)["status"], "succeeded");
    assert_eq!(
        seen.len(),
        1,
        "one per-run dir under BUILDRUNNER_WORK_DIR: {seen:?}"
    );
    assert_eq!(
        entries(&work),
        Vec::<String>::new(),
        "work dir not empty after the run"
    );
}

#[test]
fn keep_storage_keeps_the_per_run_root_with_the_image() {
    if !can_build() {
        return;
    }
    let s = Scratch::new();
    let work = s.join("work");
    let result = s.join("result.json");
    let o = run(br("build", &work)
        .arg(fixture("run-step"))
        .args(valid_args(&base_arg()))
        .arg("--keep-storage")
        .arg("--result")
        .arg(&result));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let runs: Vec<String> = entries(&work)
        .into_iter()
        .filter(|e| e.starts_with("run-"))
        .collect();
    assert_eq!(
        runs.len(),
        1,
        "--keep-storage keeps the per-run dir: {:?}",
        entries(&work)
    );
    let graph = find_graph_root(&work.join(&runs[0]))
        .unwrap_or_else(|| panic!("no image store in the kept {}", runs[0]));
    let images = std::fs::read_dir(&graph)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with("-images"))
        .map(|e| std::fs::read_to_string(e.path().join("images.json")).unwrap())
        .unwrap();
    assert!(
        images.contains("localhost/br-cli/app:1"),
        "the tag is in the kept store"
    );
    assert!(
        preflight::host::mountinfo::current_mounts_below(&work).is_empty(),
        "{:?}",
        preflight::host::mountinfo::current_mounts_below(&work)
    );
}

/// Spawns the slow fixture's build with stderr to a file; returns the child once the slow
/// step is running (its marker is in the log).
fn start_slow_build(work: &Path, result: &Path, log: &Path) -> std::process::Child {
    let mut c = br("build", work);
    c.arg(fixture("build-slow"))
        .args(valid_args(&base_arg()))
        .arg("--result")
        .arg(result)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    {
        use std::os::unix::process::CommandExt;
        c.process_group(0); // so the test can kill everything it started
    }
    let mut child = c.spawn().expect("spawn buildrunner build");
    let started = wait_until(Duration::from_secs(30), || {
        std::fs::read_to_string(log).is_ok_and(|l| l.contains("slow-step-started-2"))
            || child.try_wait().ok().flatten().is_some()
    });
    let exited = child.try_wait().ok().flatten();
    assert!(
        started && exited.is_none(),
        "the slow step did not start (exit {exited:?}):\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
    child
}

/// Kills (SIGKILL, by pid) what is left of a build under `work`: the buildrunner process
/// group, then anything still rooted or named under `work` (buildah runs in its own group).
fn kill_leftovers(pgid: i32, work: &Path) {
    // SAFETY: plain signal sends to processes this test started.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    for _ in 0..3 {
        for pid in pids_using(work) {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sigterm_mid_build_exits_143_aborted_and_cleans_up() {
    if !can_build() {
        return;
    }
    let s = Scratch::new();
    let work = s.join("work");
    let result = s.join("result.json");
    let log = s.join("log");
    let mut child = start_slow_build(&work, &result, &log);
    let pid = child.id() as i32;
    // Nomad's docker driver signals PID 1 only.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let mut status = None;
    wait_until(Duration::from_secs(20), || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    let leftovers = pids_using(&work);
    if status.is_none() || !leftovers.is_empty() {
        kill_leftovers(pid, &work);
        let _ = child.wait();
    }
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(143),
        "SIGTERM → exit 143 within 20 s (got {status:?}):\n{log}"
    );
    assert!(
        leftovers.is_empty(),
        "processes left running after SIGTERM: {leftovers:?}"
    );
    let r = read_json(&result);
    assert_eq!(r["status"], "aborted", "{r}");
    assert_eq!(r["error"]["kind"], "signal", "{r}");
    assert_eq!(r["exit_code"], 143, "{r}");
    assert_eq!(
        entries(&work),
        Vec::<String>::new(),
        "per-run dir removed after SIGTERM"
    );
}

#[test]
fn gc_removes_the_root_of_a_killed_run_and_spares_a_live_one() {
    if !can_build() {
        return;
    }
    let s = Scratch::new();
    let work = s.join("work");
    let result = s.join("result.json");
    let log = s.join("log");
    let mut child = start_slow_build(&work, &result, &log);
    let pid = child.id() as i32;
    let runs: Vec<String> = entries(&work)
        .into_iter()
        .filter(|e| e.starts_with("run-"))
        .collect();
    assert_eq!(
        runs.len(),
        1,
        "one per-run dir while building: {:?}",
        entries(&work)
    );
    let run_dir = work.join(&runs[0]);

    // While the run is alive, gc must leave it alone.
    let o = run(&mut br("gc", &work));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        run_dir.exists(),
        "gc removed a live run's dir: {}",
        text(&o)
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "gc disturbed the live build"
    );

    // kill -9: no cleanup runs; the dir (and maybe mounts) stay behind.
    kill_leftovers(pid, &work);
    let _ = child.wait();
    assert!(
        run_dir.exists(),
        "the killed run's dir should still be there"
    );

    let o = run(br("gc", &work).arg("--dry-run"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(run_dir.exists(), "gc --dry-run removed {run_dir:?}");
    assert!(
        stdout_of(&o).contains(&runs[0]) || stderr_of(&o).contains(&runs[0]),
        "gc --dry-run names what it would remove: {}",
        text(&o)
    );

    let o = run(&mut br("gc", &work));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        !run_dir.exists(),
        "gc left the dead run's dir: {}",
        text(&o)
    );
    assert!(
        preflight::host::mountinfo::current_mounts_below(&work).is_empty(),
        "gc left mounts: {:?}",
        preflight::host::mountinfo::current_mounts_below(&work)
    );
}
