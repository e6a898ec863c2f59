//! `buildrunner doctor` as a user meets it: formats, exit codes, JUnit, and the promise that
//! live probes leave nothing behind (issue 3, points 3 and 5).

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::*;

fn doctor(args: &[&str]) -> std::process::Output {
    run(Command::new(bin())
        .arg("doctor")
        .args(args)
        .env("NO_COLOR", "1"))
}

#[test]
fn json_report_has_the_documented_shape() {
    let store = tempfile::tempdir().unwrap();
    let o = doctor(&[
        "--format",
        "json",
        "--storage-root",
        store.path().to_str().unwrap(),
    ]);
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    assert_eq!(v["schema"], "buildrunner.doctor/v1");
    let verdict = v["verdict"].as_str().unwrap();
    assert!(["ok", "degraded", "blocked"].contains(&verdict));
    assert_eq!(
        o.status.code(),
        Some(if verdict == "blocked" { 1 } else { 0 })
    );
    for key in [
        "storage_driver",
        "mount_program",
        "isolation",
        "userns",
        "layers",
        "layers_with_cache",
        "reasons",
        "blocked_by",
        "unblock",
    ] {
        assert!(v["decision"].get(key).is_some(), "decision.{key} missing");
    }
    let ids: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, preflight::CHECK_IDS);
    for c in v["checks"].as_array().unwrap() {
        assert!(["pass", "warn", "fail", "skip"].contains(&c["status"].as_str().unwrap()));
        assert!(c["summary"].as_str().is_some_and(|s| !s.is_empty()));
    }
    assert!(v["host"]["storage_root"].as_str() == store.path().to_str());
    assert!(v["elapsed_ms"].as_f64().is_some());
}

#[test]
fn text_without_colour_uses_words_and_ends_with_the_verdict() {
    let store = tempfile::tempdir().unwrap();
    let o = doctor(&["--storage-root", store.path().to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        !out.contains('\x1b') && !out.contains('✔'),
        "NO_COLOR / non-TTY output must be plain: {out}"
    );
    let check_lines = out
        .lines()
        .filter(|l| {
            ["PASS ", "WARN ", "FAIL ", "SKIP "]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .count();
    assert_eq!(check_lines, preflight::CHECK_IDS.len(), "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("decision: storage ")),
        "{out}"
    );
    assert!(
        out.lines()
            .last()
            .is_some_and(|l| l.starts_with("verdict: ")),
        "{out}"
    );
    for (i, line) in out.lines().enumerate() {
        if line.starts_with("WARN ") || line.starts_with("FAIL ") {
            let rest: Vec<&str> = out
                .lines()
                .skip(i + 1)
                .take_while(|l| l.starts_with("      "))
                .collect();
            assert!(
                rest.iter().any(|l| l.trim_start().starts_with("hint: ")),
                "no hint under {line}"
            );
        }
    }
}

#[test]
fn junit_has_one_testcase_per_check_and_failures_carry_hints() {
    let store = tempfile::tempdir().unwrap();
    let junit = store.path().join("doctor.xml");
    let o = doctor(&[
        "--format",
        "json",
        "--storage-root",
        store.path().join("s").to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.starts_with("<?xml"));
    assert_eq!(
        xml.matches("<testcase ").count(),
        preflight::CHECK_IDS.len()
    );
    let fails = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .count();
    assert_eq!(xml.matches("<failure ").count(), fails);
    assert!(xml.contains(&format!("failures=\"{fails}\"")));
    assert_eq!(
        xml.matches("</testcase>").count(),
        preflight::CHECK_IDS.len(),
        "well-formed testcases"
    );
}

#[test]
fn usage_errors_exit_2_with_a_one_line_error() {
    let o = doctor(&["--format", "yaml"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.starts_with("error: "), "{err}");
    let o = run(Command::new(bin()).arg("frobnicate"));
    assert_eq!(o.status.code(), Some(2));
    let o = doctor(&["--junit", "/nonexistent-dir/x.xml"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("error: cannot write the JUnit report") && err.contains("hint: "),
        "{err}"
    );
}

fn mountinfo_set() -> BTreeSet<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .map(|l| l.split(' ').skip(3).collect::<Vec<_>>().join(" "))
        .collect()
}

fn listing(dir: &std::path::Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn live_probes_leave_no_mount_and_no_directory_behind() {
    if !require(
        is_root(),
        "not root: the mount probes need root to be checked against the host mount table",
    ) {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let tmp = std::env::temp_dir();
    let (m0, s0, t0) = (mountinfo_set(), listing(store.path()), listing(&tmp));
    for _ in 0..3 {
        let o = doctor(&[
            "--format",
            "json",
            "--storage-root",
            store.path().to_str().unwrap(),
        ]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(
            v["checks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["id"] == "overlay.probe")
                .unwrap()["status"],
            "pass",
            "{}",
            text(&o)
        );
    }
    assert_eq!(mountinfo_set(), m0, "mount table changed");
    assert_eq!(listing(store.path()), s0, "storage root not left as found");
    let leaked: Vec<String> = listing(&tmp)
        .difference(&t0)
        .filter(|n| n.starts_with(".buildrunner-"))
        .cloned()
        .collect();
    assert!(leaked.is_empty(), "left in {}: {leaked:?}", tmp.display());
}

#[test]
fn probe_child_rejects_bad_arguments() {
    let o = run(Command::new(bin()).args(["__probe", "bogus", "host", "/tmp"]));
    assert_eq!(o.status.code(), Some(2));
    let o = run(Command::new(bin()).args(["__probe", "overlay"]));
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_probe_past_its_time_bound_is_killed_reported_and_cleaned_up() {
    if !require(
        is_root(),
        "not root: the mount probes need root to be checked against the host mount table",
    ) {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let m0 = mountinfo_set();
    let o = run(Command::new(bin())
        .args([
            "doctor",
            "--format",
            "json",
            "--storage-root",
            store.path().to_str().unwrap(),
        ])
        .env("BUILDRUNNER_PROBE_TIMEOUT_MS", "0"));
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    let overlay = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "overlay.probe")
        .unwrap();
    assert_eq!(overlay["status"], "warn", "{overlay}");
    assert!(
        overlay["detail"]
            .as_str()
            .unwrap_or("")
            .contains("timed out"),
        "{overlay}"
    );
    assert_eq!(mountinfo_set(), m0, "mount table changed");
    assert!(listing(store.path()).is_empty(), "probe dir left behind");
}
