//! Human text. Colour and symbols (✔ ! ✘) only on a terminal without `NO_COLOR`; otherwise
//! the words PASS/WARN/FAIL/SKIP, so logs in Jenkins stay greppable.

use std::io::{IsTerminal, Write};

use preflight::{DoctorReport, Status, Verdict};

/// Whether to use colour and symbols on stdout.
pub fn fancy() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

fn mark(status: Status, fancy: bool) -> &'static str {
    match (status, fancy) {
        (Status::Pass, true) => "\x1b[32m✔\x1b[0m",
        (Status::Warn, true) => "\x1b[33m!\x1b[0m",
        (Status::Fail, true) => "\x1b[31m✘\x1b[0m",
        (Status::Skip, true) => "\x1b[2m-\x1b[0m",
        (Status::Pass, false) => "PASS",
        (Status::Warn, false) => "WARN",
        (Status::Fail, false) => "FAIL",
        (Status::Skip, false) => "SKIP",
    }
}

/// Renders the report as text (used for stdout and by tests).
pub fn render_doctor(r: &DoctorReport, verbose: bool, fancy: bool) -> String {
    let mut s = String::new();
    let width = r.checks.iter().map(|c| c.id.len()).max().unwrap_or(0);
    for c in &r.checks {
        s.push_str(&format!(
            "{} {:width$}  {}\n",
            mark(c.status, fancy),
            c.id,
            c.summary
        ));
        let show = verbose || matches!(c.status, Status::Warn | Status::Fail);
        if let (true, Some(d)) = (show, &c.detail) {
            s.push_str(&format!("      {d}\n"));
        }
        if let (true, Some(h)) = (c.status != Status::Pass, &c.hint) {
            s.push_str(&format!("      hint: {h}\n"));
        }
    }
    let d = &r.decision;
    let head = if r.verdict == Verdict::Blocked {
        "\ndecision (blocked: only what the failed probes left possible): storage"
    } else {
        "\ndecision: storage"
    };
    s.push_str(&format!(
        "{head} {}, isolation {}, user namespace {}, intermediate layers {}\n",
        d.storage_label(),
        d.isolation.as_str(),
        if d.userns { "yes" } else { "no" },
        match (d.layers, d.layers_with_cache) {
            (true, _) => "yes",
            (false, true) => "only with --cache-repo",
            (false, false) => "no",
        }
    ));
    for reason in &d.reasons {
        let cites = if reason.findings.is_empty() {
            String::new()
        } else {
            format!(" [{}]", reason.findings.join(", "))
        };
        s.push_str(&format!("  {}: {}{}\n", reason.topic, reason.text, cites));
    }
    let verdict = match (r.verdict, fancy) {
        (Verdict::Ok, true) => "\x1b[32mok\x1b[0m".to_string(),
        (Verdict::Degraded, true) => "\x1b[33mdegraded\x1b[0m".to_string(),
        (Verdict::Blocked, true) => "\x1b[31mblocked\x1b[0m".to_string(),
        (v, false) => v.as_str().to_string(),
    };
    let tail = match (&r.verdict, &d.unblock) {
        (Verdict::Blocked, Some(u)) => format!(": {u}"),
        _ => String::new(),
    };
    s.push_str(&format!(
        "verdict: {verdict}{tail} ({:.1} ms)\n",
        r.elapsed_ms
    ));
    s
}

pub fn print_doctor(r: &DoctorReport, verbose: bool) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(render_doctor(r, verbose, fancy()).as_bytes());
}
