//! `buildah version --json`, cached. Starting buildah costs ~12 ms, most of the doctor's
//! budget, so the answer is cached under the cache dir keyed on the binary's device, inode,
//! size and change time: a new buildah package invalidates it.

use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::BuildahFacts;

const CACHE_FILE: &str = "buildah-version.json";

fn key(path: &Path) -> Option<String> {
    let m = fs::metadata(path).ok()?;
    Some(format!(
        "{}:{}:{}:{}.{}:{}",
        m.dev(),
        m.ino(),
        m.size(),
        m.ctime(),
        m.ctime_nsec(),
        path.display()
    ))
}

/// The version of the buildah at `path` (`None`: not installed).
pub fn version(path: Option<&Path>, cache_dir: Option<&Path>, timeout: Duration) -> BuildahFacts {
    let Some(path) = path else {
        return BuildahFacts {
            path: None,
            version: None,
            error: Some("buildah not found on PATH".into()),
            cached: false,
        };
    };
    let key = key(path);
    let cache = cache_dir.map(|d| d.join(CACHE_FILE));
    if let (Some(k), Some(c)) = (&key, &cache) {
        if let Ok(text) = fs::read_to_string(c) {
            if let Some((ck, v)) = text.trim().split_once('\n') {
                if ck == k {
                    return BuildahFacts {
                        path: Some(path.to_path_buf()),
                        version: Some(v.to_string()),
                        error: None,
                        cached: true,
                    };
                }
            }
        }
    }
    let out = output_within(Command::new(path).args(["version", "--json"]), timeout);
    let parsed = match out {
        Err(e) => Err(format!("cannot run {}: {e}", path.display())),
        Ok(o) if !o.status.success() => Err(format!(
            "`buildah version` {}: {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Ok(o) => serde_json::from_slice::<serde_json::Value>(&o.stdout)
            .ok()
            .and_then(|v| v.get("version")?.as_str().map(str::to_string))
            .ok_or_else(|| "`buildah version --json` gave no version".to_string()),
    };
    if let (Ok(v), Some(k), Some(c)) = (&parsed, &key, &cache) {
        let _ = c.parent().map(fs::create_dir_all);
        let _ = crate::write_atomic(c, format!("{k}\n{v}\n").as_bytes());
    }
    BuildahFacts {
        path: Some(path.to_path_buf()),
        cached: false,
        version: parsed.as_ref().ok().cloned(),
        error: parsed.err(),
    }
}

/// Runs `cmd` to completion, killing it past `timeout`: a hung buildah must not hang the
/// doctor. Its output is small, so reading it after exit cannot deadlock on a full pipe.
fn output_within(cmd: &mut Command, timeout: Duration) -> std::io::Result<Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let end = Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {timeout:?}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_end(&mut stdout);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_end(&mut stderr);
    }
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// `(major, minor)` of a version string like `1.28.2`.
pub fn parse_version(v: &str) -> Option<(u32, u32)> {
    let mut it = v.trim().trim_start_matches('v').split('.');
    Some((
        it.next()?.parse().ok()?,
        it.next()?.split('-').next()?.parse().ok()?,
    ))
}
