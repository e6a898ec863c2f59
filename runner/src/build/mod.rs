//! `buildrunner build`: preflight → plan → supervised `buildah bud` → push → result.
//! Each step is its own module; `commands/build.rs` strings them together.

pub mod clock;
pub mod diskwatch;
pub mod input;
pub mod logs;
pub mod plan;
pub mod push;
pub mod refs;
pub mod result;
pub mod signals;
pub mod supervise;
pub mod workdir;

use base64::Engine;

/// Shortest value worth masking: shorter ones would mask ordinary words.
const MIN_MASK: usize = 4;

/// Values to mask in logs and the result: the credentials of the auth file, and each line of
/// every build-secret file (a secret printed by a `RUN` step arrives line by line).
pub fn secret_values(req: &input::BuildRequest) -> Vec<String> {
    let mut out = Vec::new();
    for entry in req
        .auth
        .iter()
        .flat_map(|v| v["auths"].as_object())
        .flat_map(|m| m.values())
    {
        let encoded = entry["auth"].as_str().unwrap_or_default();
        out.push(encoded.to_string());
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        if let Some((_, pass)) = decoded.as_deref().and_then(|up| up.split_once(':')) {
            out.push(pass.to_string());
        }
        for key in ["password", "identitytoken", "registrytoken"] {
            if let Some(p) = entry[key].as_str() {
                out.push(p.to_string());
            }
        }
    }
    for s in &req.secrets {
        if let Ok(text) = std::fs::read_to_string(&s.src) {
            out.push(text.trim().to_string());
            out.extend(text.lines().map(|l| l.trim().to_string()));
        }
    }
    out.retain(|v| v.len() >= MIN_MASK);
    out.sort_by_key(|v| std::cmp::Reverse(v.len()));
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_of_a_secret_and_every_credential_is_masked() {
        let dir = tempfile::tempdir().unwrap();
        let npmrc = dir.path().join("npmrc");
        std::fs::write(
            &npmrc,
            "registry=https://npm.example.com/\n//npm.example.com/:_authToken=TOPSECRET123\nx\n",
        )
        .unwrap();
        let auth = serde_json::json!({"auths": {"r.example.com": {"auth": "dXNlcjpodW50ZXIy", "identitytoken": "tok-abcdef"}}});
        let req = input::BuildRequest {
            context: ".".into(),
            containerfile: "Containerfile".into(),
            tags: vec![],
            build_args: vec![],
            target: None,
            labels: vec![],
            secrets: vec![input::Secret {
                id: "npmrc".into(),
                src: npmrc,
            }],
            platform: None,
            push: false,
            cache_repo: None,
            authfile: None,
            auth: Some(auth),
            cert_dir: None,
            tls_verify: true,
            timestamp: None,
        };
        let v = secret_values(&req);
        let log = logs::Logger::new(crate::cli::LogFormat::Plain, v);
        let line = log
            .redact("token //npm.example.com/:_authToken=TOPSECRET123 pass hunter2 id tok-abcdef");
        assert!(
            !line.contains("TOPSECRET123")
                && !line.contains("hunter2")
                && !line.contains("tok-abcdef"),
            "{line}"
        );
        assert_eq!(
            log.redact("x marks"),
            "x marks",
            "one-letter lines are not masked"
        );
    }
}
