//! JUnit XML, Jenkins' native test-report format: one testcase per check; a failed check is a
//! `<failure>` carrying its hint, a skipped one `<skipped/>`, a warning passes with its text in
//! `<system-out>`.

use std::io;
use std::path::Path;

use preflight::{DoctorReport, Status};

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {}
            c => o.push(c),
        }
    }
    o
}

pub fn render(r: &DoctorReport) -> String {
    let count = |s: Status| r.checks.iter().filter(|c| c.status == s).count();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<testsuites>\n<testsuite name=\"buildrunner.doctor\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" errors=\"0\" time=\"{:.3}\">\n",
        r.checks.len(),
        count(Status::Fail),
        count(Status::Skip),
        r.elapsed_ms / 1000.0
    ));
    x.push_str(&format!(
        "  <properties><property name=\"verdict\" value=\"{}\"/><property name=\"storage\" value=\"{}\"/></properties>\n",
        r.verdict.as_str(),
        esc(&r.decision.storage_label())
    ));
    for c in &r.checks {
        x.push_str(&format!(
            "  <testcase classname=\"buildrunner.doctor\" name=\"{}\">",
            esc(&c.id)
        ));
        let body = [
            Some(c.summary.as_str()),
            c.detail.as_deref(),
            c.hint.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("\n");
        match c.status {
            Status::Fail => x.push_str(&format!(
                "<failure message=\"{}\" type=\"{}\">{}</failure>",
                esc(&c.summary),
                esc(&c.id),
                esc(&format!(
                    "hint: {}\n{}",
                    c.hint.as_deref().unwrap_or("-"),
                    c.detail.as_deref().unwrap_or("")
                ))
            )),
            Status::Skip => x.push_str(&format!("<skipped message=\"{}\"/>", esc(&c.summary))),
            Status::Warn => x.push_str(&format!("<system-out>WARN: {}</system-out>", esc(&body))),
            Status::Pass => {}
        }
        x.push_str("</testcase>\n");
    }
    x.push_str("</testsuite>\n</testsuites>\n");
    x
}

/// Writes the report atomically (temp file + rename) so Jenkins never reads half a file.
pub fn write(path: &Path, r: &DoctorReport) -> io::Result<()> {
    preflight::write_atomic(path, render(r).as_bytes())
}
