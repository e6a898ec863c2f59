//! Validates what the user asked for before anything runs: every mistake here costs
//! milliseconds, not a build. Each error is one line with a hint and exit code 2.

use std::fs;
use std::path::{Path, PathBuf};

use super::refs::{self, ImageRef};
use crate::cli::BuildArgs;
use crate::error::CliError;
use crate::exit;

/// `KEY=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

/// `id=ID,src=FILE` (buildah's `--secret` syntax).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    pub id: String,
    pub src: PathBuf,
}

/// A validated build request.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    pub context: PathBuf,
    pub containerfile: PathBuf,
    pub tags: Vec<ImageRef>,
    pub build_args: Vec<KeyValue>,
    pub target: Option<String>,
    pub labels: Vec<KeyValue>,
    pub secrets: Vec<Secret>,
    pub platform: Option<String>,
    pub push: bool,
    pub cache_repo: Option<ImageRef>,
    pub authfile: Option<PathBuf>,
    /// The auth file's parsed content (its passwords are masked in logs).
    pub auth: Option<serde_json::Value>,
    pub cert_dir: Option<PathBuf>,
    pub tls_verify: bool,
    pub timestamp: Option<u64>,
}

fn bad(message: impl Into<String>, hint: &str) -> CliError {
    CliError::new(exit::USAGE, message).hint(hint)
}

fn key_value(what: &str, s: &str) -> Result<KeyValue, CliError> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() && !k.contains(char::is_whitespace) => Ok(KeyValue {
            key: k.to_string(),
            value: v.to_string(),
        }),
        _ => Err(bad(
            format!("malformed {what} {s:?}"),
            &format!("write `--{what} KEY=VALUE`"),
        )),
    }
}

fn secret(s: &str) -> Result<Secret, CliError> {
    let mut id = None;
    let mut src = None;
    for part in s.split(',') {
        match part.split_once('=') {
            Some(("id", v)) if !v.is_empty() => id = Some(v.to_string()),
            Some(("src", v)) if !v.is_empty() => src = Some(PathBuf::from(v)),
            _ => {
                return Err(bad(
                    format!("malformed --secret {s:?}"),
                    "write `--secret id=ID,src=FILE`",
                ))
            }
        }
    }
    let (Some(id), Some(src)) = (id, src) else {
        return Err(bad(
            format!("malformed --secret {s:?}"),
            "write `--secret id=ID,src=FILE`",
        ));
    };
    if let Err(e) = fs::File::open(&src) {
        return Err(bad(
            format!("cannot read secret {id:?} from {}", src.display()),
            "pass a readable file as src=",
        )
        .cause(e));
    }
    Ok(Secret { id, src })
}

/// The auth file to use: `--authfile`, else `$REGISTRY_AUTH_FILE`; it must be readable JSON
/// with an `auths` object. `None` leaves buildah to its own lookup order.
fn authfile(given: Option<&Path>) -> Result<Option<(PathBuf, serde_json::Value)>, CliError> {
    let path = match given {
        Some(p) => p.to_path_buf(),
        None => match std::env::var_os("REGISTRY_AUTH_FILE").filter(|v| !v.is_empty()) {
            Some(p) => PathBuf::from(p),
            None => return Ok(None),
        },
    };
    let hint = "pass a readable auth.json (`{\"auths\":{\"host\":{\"auth\":\"base64(user:pass)\"}}}`) with `--authfile` or REGISTRY_AUTH_FILE";
    let text = fs::read_to_string(&path).map_err(|e| {
        bad(
            format!("cannot read the auth file {}", path.display()),
            hint,
        )
        .cause(e)
    })?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        bad(
            format!("the auth file {} is not JSON", path.display()),
            hint,
        )
        .cause(e)
    })?;
    if !v.get("auths").is_some_and(|a| a.is_object()) {
        return Err(bad(
            format!("the auth file {} has no \"auths\" object", path.display()),
            hint,
        ));
    }
    Ok(Some((path, v)))
}

/// The flag's values, or, when the flag was not given, the env var split on `sep`. Only the
/// env var is split: a value given on the command line may contain the separator
/// (`--build-arg NO_PROXY=a,b`).
fn flag_or_env(given: &[String], env: &str, sep: char) -> Vec<String> {
    if !given.is_empty() {
        return given.to_vec();
    }
    std::env::var(env)
        .map(|v| {
            v.split(sep)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

impl BuildRequest {
    pub fn from_args(a: &BuildArgs) -> Result<Self, CliError> {
        if !a.context.is_dir() {
            return Err(bad(
                format!("build context {} is not a directory", a.context.display()),
                "pass the directory holding your Containerfile, e.g. `buildrunner build .`",
            ));
        }
        let containerfile = match &a.file {
            Some(f) => f.clone(),
            None => ["Containerfile", "Dockerfile"]
                .iter()
                .map(|n| a.context.join(n))
                .find(|p| p.is_file())
                .unwrap_or_else(|| a.context.join("Containerfile")),
        };
        if !containerfile.is_file() {
            return Err(bad(
                format!("no Containerfile at {}", containerfile.display()),
                "add a Containerfile (or Dockerfile) to the context, or pass `-f FILE`",
            ));
        }
        let parse_ref = |s: &str| refs::parse(s).map_err(|e| bad(e.message, &e.hint));
        let tags = a
            .tags
            .iter()
            .filter(|t| !t.is_empty())
            .map(|t| parse_ref(t))
            .collect::<Result<Vec<_>, _>>()?;
        if a.push && tags.is_empty() {
            return Err(bad(
                "--push needs at least one --tag",
                "add `-t registry.example.com/team/app:TAG`",
            ));
        }
        if let Some(t) = tags.iter().find(|t| t.digest.is_some()) {
            return Err(bad(
                format!("tag {t} names a digest: a new image cannot be pushed by digest"),
                "drop the `@sha256:…` part; the result reports the pushed digest",
            ));
        }
        let cache_repo = a.cache_repo.as_deref().map(parse_ref).transpose()?;
        if let Some(c) = cache_repo
            .as_ref()
            .filter(|c| c.tag.is_some() || c.digest.is_some())
        {
            return Err(bad(
                format!("--cache-repo {c} names a tag or digest"),
                "pass a repository only, e.g. `registry.example.com/team/app-cache`",
            ));
        }
        if let Some(d) = &a.cert_dir {
            if !d.is_dir() {
                return Err(bad(
                    format!("certificate directory {} does not exist", d.display()),
                    "pass a directory holding `ca.crt` with `--cert-dir`",
                ));
            }
        }
        let auth = authfile(a.authfile.as_deref())?;
        Ok(BuildRequest {
            context: a.context.clone(),
            containerfile,
            tags,
            build_args: flag_or_env(&a.build_args, "BUILDRUNNER_BUILD_ARG", ',')
                .iter()
                .map(|s| key_value("build-arg", s))
                .collect::<Result<_, _>>()?,
            target: a.target.clone().filter(|t| !t.is_empty()),
            labels: flag_or_env(&a.labels, "BUILDRUNNER_LABEL", ',')
                .iter()
                .map(|s| key_value("label", s))
                .collect::<Result<_, _>>()?,
            secrets: flag_or_env(&a.secrets, "BUILDRUNNER_SECRET", ';')
                .iter()
                .map(|s| secret(s))
                .collect::<Result<_, _>>()?,
            platform: a.platform.clone().filter(|p| !p.is_empty()),
            push: a.push,
            cache_repo,
            authfile: auth.as_ref().map(|(p, _)| p.clone()),
            auth: auth.map(|(_, v)| v),
            cert_dir: a.cert_dir.clone(),
            tls_verify: a.tls_verify,
            timestamp: a.timestamp,
        })
    }
}
