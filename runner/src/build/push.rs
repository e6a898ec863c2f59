//! Pushing with retries: each tag is pushed with `buildah push --digestfile`, up to
//! [`ATTEMPTS`] times with exponential backoff (1 s, 2 s, 4 s) on transient failures
//! (connection errors, 5xx, timeouts). Authentication, authorisation and certificate errors
//! are final at once: retrying them only delays the red build.

use std::time::Duration;

use super::logs::Logger;
use super::plan::BuildPlan;
use super::refs::ImageRef;
use super::result::ImageOut;
use super::signals;
use super::supervise;

pub const ATTEMPTS: u32 = 4;

/// Why a push failed.
#[derive(Debug)]
pub struct PushError {
    /// Tags pushed before the failure, with their digests.
    pub pushed: Vec<ImageOut>,
    pub message: String,
    pub hint: String,
    pub interrupted: Option<i32>,
    pub tail: Vec<String>,
}

/// Errors no retry can fix.
pub fn is_permanent(lines: &[String]) -> bool {
    const PERMANENT: &[&str] = &[
        "unauthorized",
        "authentication required",
        "denied",
        "forbidden",
        "x509:",
        "certificate",
        "invalid username/password",
        "name unknown",
        "manifest invalid",
    ];
    lines.iter().any(|l| {
        let l = l.to_ascii_lowercase();
        PERMANENT.iter().any(|p| l.contains(p))
    })
}

fn hint_for(lines: &[String]) -> String {
    let text = lines.join("\n").to_ascii_lowercase();
    if text.contains("x509") || text.contains("certificate") {
        "give the registry's CA with `--cert-dir DIR` (a directory holding `ca.crt`)".into()
    } else if text.contains("unauthorized")
        || text.contains("authentication required")
        || text.contains("denied")
    {
        "check the credentials for this registry in the auth file (`--authfile` / REGISTRY_AUTH_FILE, rendered by Vault in Nomad)".into()
    } else {
        "check that the registry is reachable from the build host; transient errors were retried"
            .into()
    }
}

/// Pushes every tag; returns the pushed images with their digests.
pub fn push_all(
    plan: &BuildPlan,
    log: &Logger,
    run_dir: &std::path::Path,
) -> Result<Vec<ImageOut>, PushError> {
    let tags: Vec<ImageRef> = plan.req.tags.clone();
    let mut out = Vec::new();
    for (i, tag) in tags.iter().enumerate() {
        log.push_progress(i + 1, tags.len(), &tag.to_string());
        let digestfile = run_dir.join(format!("digest-{i}"));
        let argv = plan.push_argv(tag, &digestfile);
        log.event(&format!("$ buildah {}", BuildPlan::show(&argv)));
        let mut delay = Duration::from_secs(1);
        for attempt in 1..=ATTEMPTS {
            let env = plan.env();
            let fin =
                supervise::run(&plan.buildah, &argv, &env, &plan.lock_fds, log).map_err(|e| {
                    PushError {
                        pushed: out.clone(),
                        message: format!("cannot run buildah push: {e}"),
                        hint: "install buildah".into(),
                        interrupted: None,
                        tail: vec![],
                    }
                })?;
            if fin.interrupted.is_some() {
                return Err(PushError {
                    pushed: out.clone(),
                    message: "interrupted while pushing".into(),
                    hint: "rerun the build".into(),
                    interrupted: fin.interrupted,
                    tail: fin.tail,
                });
            }
            if fin.code == 0 {
                let digest = std::fs::read_to_string(&digestfile)
                    .ok()
                    .map(|d| d.trim().to_string())
                    .filter(|d| !d.is_empty());
                out.push(ImageOut {
                    reference: tag.to_string(),
                    digest,
                });
                break;
            }
            let permanent = is_permanent(&fin.tail);
            if permanent || attempt == ATTEMPTS {
                let last = fin.last_line();
                return Err(PushError {
                    pushed: out.clone(),
                    message: format!(
                        "push of {tag} failed{}: {last}",
                        if permanent { "" } else { " after retries" }
                    ),
                    hint: hint_for(&fin.tail),
                    interrupted: None,
                    tail: fin.tail,
                });
            }
            log.event(&format!(
                "push attempt {attempt}/{ATTEMPTS} of {tag} failed (transient); retrying in {}s",
                delay.as_secs()
            ));
            if !signals::sleep(delay) {
                return Err(PushError {
                    pushed: out.clone(),
                    message: "interrupted while waiting to retry a push".into(),
                    hint: "rerun the build".into(),
                    interrupted: signals::received(),
                    tail: fin.tail,
                });
            }
            delay *= 2;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_and_tls_errors_are_permanent_network_errors_are_not() {
        let l = |s: &str| vec![s.to_string()];
        assert!(is_permanent(&l(
            "Error: pushing image: unauthorized: authentication required"
        )));
        assert!(is_permanent(&l(
            "x509: certificate signed by unknown authority"
        )));
        assert!(!is_permanent(&l(
            "dial tcp 127.0.0.1:5000: connect: connection refused"
        )));
        assert!(!is_permanent(&l(
            "received unexpected HTTP status: 503 Service Unavailable"
        )));
        assert!(hint_for(&l("unauthorized")).contains("auth file"));
    }
}
