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

/// Values to mask in logs: the passwords of an auth file and small build-secret files.
pub fn secret_values(req: &input::BuildRequest) -> Vec<String> {
    let mut out = Vec::new();
    let auth: Option<serde_json::Value> = req
        .authfile
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| serde_json::from_str(&t).ok());
    for entry in auth
        .iter()
        .flat_map(|v| v["auths"].as_object())
        .flat_map(|m| m.values())
    {
        let encoded = entry["auth"].as_str().unwrap_or_default();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        if let Some((_, pass)) = decoded.as_deref().and_then(|up| up.split_once(':')) {
            out.push(pass.to_string());
            out.push(encoded.to_string());
        }
        if let Some(p) = entry["password"].as_str() {
            out.push(p.to_string());
        }
    }
    for s in &req.secrets {
        if let Ok(text) = std::fs::read_to_string(&s.src) {
            let t = text.trim();
            if !t.is_empty() && t.len() <= 4096 {
                out.push(t.to_string());
            }
        }
    }
    out
}
