//! The build log on stderr, in one of three forms: `human` (a terminal: buildah's lines as
//! they come, and a progress bar over `STEP n/m` and pushes), `plain` (Jenkins: every line
//! timestamped and tagged with its source) and `json` (one object per line for log
//! shippers). buildah's output is streamed line by line, never buffered to the end. Known
//! secret values (auth-file passwords, small build-secret files) are masked in every line.

use std::io::Write;
use std::sync::Mutex;
use std::time::SystemTime;

use super::clock::rfc3339;
use crate::cli::LogFormat;

pub struct Logger {
    format: LogFormat,
    secrets: Vec<String>,
    out: Mutex<std::io::Stderr>,
}

/// `STEP 2/5: RUN …` → (2, 5); multi-stage builds prefix the stage: `[1/2] STEP 2/5: …`.
pub fn parse_step(line: &str) -> Option<(u32, u32)> {
    let line = match line.strip_prefix('[') {
        Some(rest) => rest.split_once("] ")?.1,
        None => line,
    };
    let rest = line.strip_prefix("STEP ")?;
    let (frac, _) = rest.split_once(':')?;
    let (n, m) = frac.split_once('/')?;
    Some((n.trim().parse().ok()?, m.trim().parse().ok()?))
}

fn bar(n: u32, m: u32) -> String {
    let width = 20usize;
    let done = if m == 0 {
        0
    } else {
        (n as usize * width / m as usize).min(width)
    };
    format!("[{}{}] {n}/{m}", "#".repeat(done), "-".repeat(width - done))
}

impl Logger {
    pub fn new(format: LogFormat, secrets: Vec<String>) -> Self {
        Logger {
            format,
            secrets,
            out: Mutex::new(std::io::stderr()),
        }
    }

    pub fn redact(&self, line: &str) -> String {
        let mut l = line.to_string();
        for s in &self.secrets {
            if l.contains(s.as_str()) {
                l = l.replace(s.as_str(), "[REDACTED]");
            }
        }
        l
    }

    fn write(&self, source: &str, stream: &str, line: &str) {
        let line = self.redact(line);
        let text = match self.format {
            LogFormat::Human => {
                let mut t = String::new();
                if source == "buildah" {
                    if let Some((n, m)) = parse_step(&line) {
                        t.push_str(&format!("buildrunner: build {}\n", bar(n, m)));
                    }
                    t.push_str(&line);
                } else {
                    t.push_str(&format!("buildrunner: {line}"));
                }
                t
            }
            LogFormat::Plain => format!("{} {source}: {line}", rfc3339(SystemTime::now())),
            LogFormat::Json => serde_json::json!({
                "ts": rfc3339(SystemTime::now()),
                "source": source,
                "stream": stream,
                "msg": line,
            })
            .to_string(),
        };
        if let Ok(mut e) = self.out.lock() {
            let _ = writeln!(e, "{text}");
        }
    }

    /// buildrunner's own message.
    pub fn event(&self, msg: &str) {
        self.write("buildrunner", "stderr", msg);
    }

    /// A line from a child (`buildah`).
    pub fn child(&self, stream: &str, line: &str) {
        self.write("buildah", stream, line);
    }

    /// Progress over pushes.
    pub fn push_progress(&self, n: usize, m: usize, reference: &str) {
        let msg = match self.format {
            LogFormat::Human => format!("push {} {reference}", bar(n as u32, m as u32)),
            _ => format!("push {n}/{m} {reference}"),
        };
        self.event(&msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_redaction() {
        assert_eq!(parse_step("STEP 2/5: RUN echo hi"), Some((2, 5)));
        assert_eq!(parse_step("STEP 1/1: FROM x"), Some((1, 1)));
        assert_eq!(parse_step("[2/2] STEP 3/6: COPY a b"), Some((3, 6)));
        assert_eq!(parse_step("STEPS 1/2:"), None);
        assert_eq!(bar(1, 4), "[#####---------------] 1/4");
        let l = Logger::new(LogFormat::Plain, vec!["hunter22".into()]);
        assert_eq!(l.redact("auth hunter22 ok x"), "auth [REDACTED] ok x");
    }
}
