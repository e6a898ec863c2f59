//! `buildrunner build --push` against real registries (issue 4, "Tests"): Debian's
//! docker-registry with TLS (a test CA, a server cert with SANs) and htpasswd auth, on
//! 127.0.0.1 (`localhost:5000`) and on ::1 only (`ip6-localhost:5001`, a name because
//! buildah rejects IPv6 literals), started by `tests/support/registry.sh` or by `.ci/run`.
//!
//! Checked against the registry with skopeo, never against buildrunner's own word: pushed
//! digests, labels, the target stage, the build secret in no layer (image and cache), the
//! registry password in no process's argv, log or result, no retries on an auth error, and a
//! warm rebuild on empty storage that uses the registry cache.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn ready() -> Option<Registry> {
    let ok = require(
        is_root(),
        "push tests need root (run as root, or CI=true via .ci/run)",
    ) && [
        "buildah",
        "skopeo",
        "docker-registry",
        "htpasswd",
        "openssl",
        "curl",
        "busybox",
    ]
    .iter()
    .all(|t| {
        require(
            have(t),
            &format!("{t} is not installed (see .ci/run packages)"),
        )
    });
    ok.then(registry)
}

/// The credentials a test must find nowhere: the password and the auth.json `auth` value.
fn credentials(reg: &Registry) -> Vec<String> {
    vec![reg.password.clone(), reg.basic_auth()]
}

/// The run's stdout, stderr and result file hold none of `needles`.
fn assert_nowhere(o: &std::process::Output, result: &Path, needles: &[String], what: &str) {
    let result_text = std::fs::read_to_string(result).unwrap_or_default();
    for (name, hay) in [
        ("stderr (log)", stderr_of(o)),
        ("stdout", stdout_of(o)),
        ("result file", result_text),
    ] {
        for n in needles {
            assert!(
                !hay.contains(n.as_str()),
                "the {what} appears in the {name}"
            );
        }
    }
}

/// No scanned command line held a credential or used `--creds`; the scanner did see this
/// run's buildah processes (their command lines mention `work`, the run's work dir).
fn assert_no_argv_leak(w: &CmdlineWatch, work: &Path, what: &str) {
    assert!(w.scans > 0, "the /proc scanner never ran");
    assert!(
        w.saw_buildah(&work.to_string_lossy()),
        "the scanner saw none of this run's buildah processes: scans {}",
        w.scans
    );
    assert!(
        w.leaks.is_empty(),
        "the {what} appeared in argv: {:#?}",
        w.leaks
    );
    let creds: Vec<&String> = w
        .seen
        .iter()
        .map(|(_, c)| c)
        .filter(|c| c.contains("--creds"))
        .collect();
    assert!(creds.is_empty(), "--creds used: {creds:?}");
}

fn images(r: &Value) -> Vec<(String, String)> {
    r["images"]
        .as_array()
        .unwrap_or_else(|| panic!("images: {r}"))
        .iter()
        .map(|i| {
            (
                i["reference"].as_str().unwrap_or("").to_string(),
                i["digest"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Copies `refs` (docker references) into one OCI layout and returns its blobs, decompressed.
fn pull_blobs(reg: &Registry, refs: &[String], layout: &Path) -> Vec<(String, Vec<u8>)> {
    for (i, r) in refs.iter().enumerate() {
        let o = run(reg
            .skopeo("copy")
            .arg("--quiet")
            .arg(format!("docker://{r}"))
            .arg(format!("oci:{}:t{i}", layout.display())));
        assert!(o.status.success(), "skopeo copy {r}: {}", text(&o));
    }
    oci_blobs(layout)
}

/// Build the multi-stage fixture up to `final` and push it to both registries: digests and
/// labels as skopeo sees them, step outputs in the log, the secret in no layer and nowhere
/// else, the password in no argv (scanned while the build and push run), log or result.
#[test]
fn build_and_push_to_ipv4_and_ipv6_registries() {
    let Some(reg) = ready() else { return };
    let s = Scratch::new();
    let work = s.join("work");
    let result = s.join("result.json");
    let secret_file = s.join("token");
    let secret = unique("br-secret-value");
    std::fs::write(&secret_file, &secret).unwrap();
    let name = unique("app");
    let tags = [
        format!("{}/br-test/{name}:1", reg.v4),
        format!("{}/br-test/{name}:1", reg.v6),
    ];
    let run_label = unique("run");
    let mut cmd = br("build", &work);
    cmd.arg(fixture("build-multistage"))
        .args(["-t", &tags[0], "-t", &tags[1]])
        .args([
            "--build-arg",
            &base_arg(),
            "--build-arg",
            "GREETING=from-flags",
        ])
        .args(["--label", "org.example.built-by=buildrunner-tests"])
        .args(["--label", &format!("org.example.run={run_label}")])
        .arg("--secret")
        .arg(format!("id=token,src={}", secret_file.display()))
        .args([
            "--target",
            "final",
            "--push",
            "--format",
            "json",
            "--log-format",
            "plain",
        ])
        .arg("--cert-dir")
        .arg(&reg.cert_dir)
        .arg("--authfile")
        .arg(&reg.auth_file)
        .arg("--result")
        .arg(&result);
    let (o, watch) = run_watching_cmdlines(&mut cmd, &credentials(&reg));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    let r = read_json(&result);
    assert_eq!(r["schema"], "buildrunner.result/v1");
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(r["exit_code"], 0);
    assert!(r["error"].is_null(), "error on success: {r}");
    assert!(r["duration_ms"].as_u64().is_some(), "{r}");
    assert!(r["started_at"].as_str().is_some() && r["finished_at"].as_str().is_some());
    for k in ["storage_driver", "isolation", "userns", "layers", "reasons"] {
        assert!(r["decision"].get(k).is_some(), "decision.{k}: {r}");
    }
    let printed: Value = serde_json::from_slice(&o.stdout).expect("--format json on stdout");
    assert_eq!(printed, r, "stdout and the result file differ");

    // What the registries hold.
    let imgs = images(&r);
    assert_eq!(
        imgs.iter().map(|(r, _)| r.as_str()).collect::<Vec<_>>(),
        tags.iter().map(String::as_str).collect::<Vec<_>>(),
        "one image per tag: {r}"
    );
    for (reference, digest) in &imgs {
        assert!(
            digest.starts_with("sha256:"),
            "digest of {reference}: {digest:?}"
        );
        let remote = reg.inspect(reference);
        assert_eq!(
            remote["Digest"],
            digest.as_str(),
            "pushed digest of {reference}"
        );
        let labels = &remote["Labels"];
        assert_eq!(
            labels["org.example.built-by"], "buildrunner-tests",
            "{labels}"
        );
        assert_eq!(labels["org.example.run"], run_label.as_str(), "{labels}");
        assert_eq!(
            labels["org.example.stage"], "final",
            "--target final: {labels}"
        );
    }

    // The steps ran (outputs, not command text), the ignore file held, `extra` was not built.
    let log = stderr_of(&o);
    assert!(log.contains("greeting: FROM-FLAGS"), "ARG GREETING:\n{log}");
    assert!(
        log.contains("ignore-file-honoured-42"),
        ".containerignore:\n{log}"
    );
    assert!(log.contains("final-stage-42"), "{log}");
    assert!(
        !log.contains("extra-stage-42"),
        "--target final built `extra`:\n{log}"
    );

    // The secret: mounted for the step (its digest is in a layer), stored in none.
    let blobs = pull_blobs(&reg, &[tags[0].clone()], &s.join("oci"));
    let digest_out = run(std::process::Command::new("sha256sum").arg(&secret_file));
    let secret_sha = stdout_of(&digest_out)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert!(
        blobs
            .iter()
            .any(|(_, b)| contains_bytes(b, secret_sha.as_bytes())),
        "no layer holds the secret's sha256: was it mounted at /run/secrets/token?"
    );
    for (name, b) in &blobs {
        assert!(
            !contains_bytes(b, secret.as_bytes()),
            "the build secret is in blob {name}"
        );
    }
    assert_nowhere(&o, &result, &[secret], "build secret");

    // The password.
    assert_no_argv_leak(&watch, &work, "registry password");
    assert_nowhere(&o, &result, &credentials(&reg), "registry password");
}

/// A wrong password: exit 5, `push_failed` with a hint, and one push attempt per tag (an auth
/// error is not transient). Attempts are counted from the processes seen and from buildah's
/// retry messages in the log, not from timing.
#[test]
fn wrong_password_fails_the_push_with_exit_5_and_no_retries() {
    let Some(reg) = ready() else { return };
    let s = Scratch::new();
    let work = s.join("work");
    let result = s.join("result.json");
    let wrong = unique("wrong-password");
    let auth = base64(format!("{}:{wrong}", reg.user).as_bytes());
    let auth_file = s.join("auth.json");
    std::fs::write(
        &auth_file,
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{auth}"}},"{}":{{"auth":"{auth}"}}}}}}"#,
            reg.v4, reg.v6
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&auth_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let tag = format!("{}/br-test/{}:1", reg.v4, unique("denied"));
    let mut cmd = br("build", &work);
    cmd.arg(fixture("run-step"))
        .args(["-t", &tag, "--build-arg", &base_arg(), "--push"])
        .arg("--cert-dir")
        .arg(&reg.cert_dir)
        .arg("--authfile")
        .arg(&auth_file)
        .arg("--result")
        .arg(&result);
    let mut needles = credentials(&reg);
    needles.extend([wrong.clone(), auth.clone()]);
    let (o, watch) = run_watching_cmdlines(&mut cmd, &needles);
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    let r = read_json(&result);
    assert_eq!(r["status"], "push_failed", "{r}");
    assert_eq!(r["error"]["kind"], "push", "{r}");
    assert_eq!(r["exit_code"], 5, "{r}");
    let err = &r["error"];
    assert!(
        err["hint"].as_str().is_some_and(|h| !h.trim().is_empty()),
        "hint: {r}"
    );
    let said = format!("{} {}", err["message"], err["hint"]).to_lowercase();
    assert!(
        ["auth", "credential", "password", "unauthorized", "401"]
            .iter()
            .any(|w| said.contains(w)),
        "the error must say it is about credentials: {err}"
    );

    let log = stderr_of(&o);
    // Push attempts, counted twice: `buildah push` processes for this tag seen by the /proc
    // scanner (each attempt is one process), and buildah's per-attempt error lines in the log.
    let pushes = watch.buildah_pids_with("push", &tag);
    let seen: Vec<&(i32, String)> = watch
        .seen
        .iter()
        .filter(|(p, _)| pushes.contains(p))
        .collect();
    assert_eq!(
        pushes.len(),
        1,
        "want exactly one `buildah push` attempt for one tag (an auth error is final): {seen:#?}\n{log}"
    );
    let failed_attempts = log
        .lines()
        .filter(|l| l.contains("Error: pushing image") && l.contains(tag.as_str()))
        .count();
    assert!(
        failed_attempts <= 1,
        "{failed_attempts} failed push attempts in the log:\n{log}"
    );
    let retries: Vec<&str> = log.lines().filter(|l| l.contains("retrying in")).collect();
    assert!(retries.is_empty(), "retried an auth error: {retries:#?}");
    assert_no_argv_leak(&watch, &work, "password");
    assert_nowhere(&o, &result, &needles, "password");
}

/// `--cache-repo`: a cold build pushes its layers to the cache; a second build in a fresh
/// per-run storage root (the default) pulls and uses them. The cache's layers do not hold the
/// build secret either.
#[test]
fn warm_rebuild_on_empty_storage_uses_the_registry_cache() {
    let Some(reg) = ready() else { return };
    let s = Scratch::new();
    let work = s.join("work");
    let secret_file = s.join("token");
    let secret = unique("br-cache-secret");
    std::fs::write(&secret_file, &secret).unwrap();
    let cache = format!("{}/cache/{}", reg.v4, unique("app"));
    let tag = format!("{}/br-test/{}:1", reg.v4, unique("cached"));
    let build = |result: &Path| {
        let mut cmd = br("build", &work);
        cmd.arg(fixture("build-multistage"))
            .args(["-t", &tag, "--build-arg", &base_arg(), "--target", "final"])
            .arg("--secret")
            .arg(format!("id=token,src={}", secret_file.display()))
            .args(["--push", "--cache-repo", &cache, "--log-format", "plain"])
            .arg("--cert-dir")
            .arg(&reg.cert_dir)
            .arg("--authfile")
            .arg(&reg.auth_file)
            .arg("--result")
            .arg(result);
        run_watching_cmdlines(&mut cmd, &credentials(&reg))
    };
    let cache_hits = |log: &str| log.lines().filter(|l| l.contains("Using cache")).count();

    let cold_result = s.join("cold.json");
    let (cold, cold_watch) = build(&cold_result);
    assert_eq!(cold.status.code(), Some(0), "cold: {}", text(&cold));
    let cold_log = stderr_of(&cold);
    assert_eq!(
        cache_hits(&cold_log),
        0,
        "a cold build with an empty cache hit it:\n{cold_log}"
    );
    let r = read_json(&cold_result);
    assert_eq!(
        r["decision"]["layers"], true,
        "--cache-repo needs --layers: {r}"
    );
    assert_eq!(
        entries(&work),
        Vec::<String>::new(),
        "cold run's storage not removed"
    );

    let warm_result = s.join("warm.json");
    let (warm, warm_watch) = build(&warm_result);
    assert_eq!(warm.status.code(), Some(0), "warm: {}", text(&warm));
    let warm_log = stderr_of(&warm);
    assert!(
        cache_hits(&warm_log) >= 1,
        "the warm build on fresh storage did not use the registry cache:\n{warm_log}"
    );
    let w = read_json(&warm_result);
    assert_eq!(w["status"], "succeeded", "{w}");
    assert_eq!(
        images(&w)[0].1,
        reg.inspect(&tag)["Digest"].as_str().unwrap_or(""),
        "warm push digest"
    );

    // Everything the cache holds, searched for the secret.
    let o = run(reg.skopeo("list-tags").arg(format!("docker://{cache}")));
    assert!(o.status.success(), "skopeo list-tags {cache}: {}", text(&o));
    let cache_tags: Vec<String> = serde_json::from_slice::<Value>(&o.stdout).unwrap()["Tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| format!("{cache}:{}", t.as_str().unwrap()))
        .collect();
    assert!(
        !cache_tags.is_empty(),
        "nothing was pushed to the cache repo {cache}"
    );
    let blobs = pull_blobs(&reg, &cache_tags, &s.join("cache-oci"));
    for (name, b) in &blobs {
        assert!(
            !contains_bytes(b, secret.as_bytes()),
            "the build secret is in cache blob {name}"
        );
    }
    for (o, res, w) in [
        (&cold, &cold_result, &cold_watch),
        (&warm, &warm_result, &warm_watch),
    ] {
        assert_no_argv_leak(w, &work, "registry password");
        assert_nowhere(o, res, &credentials(&reg), "registry password");
        assert_nowhere(o, res, std::slice::from_ref(&secret), "build secret");
    }
}

/// The scanner used above finds a credential in a process's argv (and does not print it).
#[test]
fn the_cmdline_scanner_finds_a_secret_in_argv() {
    let canary = unique("argv-canary");
    let (o, w) = run_watching_cmdlines(
        std::process::Command::new("sh").args(["-c", "sleep 0.3; true", "sh", &canary]),
        std::slice::from_ref(&canary),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        !w.leaks.is_empty(),
        "the scanner missed a canary in argv ({} scans)",
        w.scans
    );
    assert!(
        w.leaks
            .iter()
            .all(|l| !l.contains(&canary) && l.contains("<SECRET>")),
        "leak reports must not print the secret: {:?}",
        w.leaks
    );
}
