//! Fixture trees: a recorded host as files. `record` copies the exact files the static probes
//! read (see [`crate::host::PROC_FILES`] …) and writes the live facts as `live.json`; `load`
//! reads them back through the same code paths the real probes use. Fixtures recorded on real
//! hosts and containers live in `preflight/tests/fixtures/`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::facts::Facts;
use crate::host::{StaticFacts, ETC_FILES, PROC_FILES, SYS_FILES};
use crate::live::LiveFacts;
use crate::roots::HostRoots;

#[derive(Debug, Error)]
pub enum FixtureError {
    #[error("failed to write {path}: {err}")]
    Write { path: PathBuf, err: io::Error },
    #[error("failed to read {path}: {err}")]
    Read { path: PathBuf, err: io::Error },
    #[error("{path} is not valid live facts JSON: {err}")]
    Json {
        path: PathBuf,
        err: serde_json::Error,
    },
}

const LIVE_JSON: &str = "live.json";

/// Copies the files the static probes read from `roots` into `dir`, and the live facts.
pub fn record(
    dir: &Path,
    roots: &HostRoots,
    live: &LiveFacts,
    origin: &str,
) -> Result<(), FixtureError> {
    let w = |path: PathBuf, bytes: &[u8]| -> Result<(), FixtureError> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|err| FixtureError::Write {
                path: parent.into(),
                err,
            })?;
        }
        fs::write(&path, bytes).map_err(|err| FixtureError::Write { path, err })
    };
    for (root, sub, files) in [
        (&roots.proc, "proc", PROC_FILES),
        (&roots.sys, "sys", SYS_FILES),
        (&roots.etc, "etc", ETC_FILES),
    ] {
        for rel in files {
            if let Ok(bytes) = fs::read(root.join(rel)) {
                w(dir.join(sub).join(rel), &bytes)?;
            }
        }
    }
    let json = serde_json::to_vec_pretty(live).map_err(|err| FixtureError::Json {
        path: dir.join(LIVE_JSON),
        err,
    })?;
    w(dir.join(LIVE_JSON), &json)?;
    w(
        dir.join("ORIGIN"),
        format!("{}\n", origin.trim()).as_bytes(),
    )
}

/// Loads a recorded fixture as [`Facts`].
pub fn load(dir: &Path) -> Result<Facts, FixtureError> {
    let path = dir.join(LIVE_JSON);
    let text = fs::read_to_string(&path).map_err(|err| FixtureError::Read {
        path: path.clone(),
        err,
    })?;
    let live = serde_json::from_str(&text).map_err(|err| FixtureError::Json { path, err })?;
    Ok(Facts {
        host: StaticFacts::read(&HostRoots::under(dir)),
        live,
    })
}
