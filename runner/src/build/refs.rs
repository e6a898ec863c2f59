//! Image references as buildah and registries accept them:
//! `host[:port]/path[:tag][@sha256:…]`, validated up front so a typo fails in milliseconds
//! with a hint instead of after the build. buildah 1.28 rejects IPv6 literals
//! (`[::1]:5000/x`, KNOWLEDGE.md §4): IPv6 fleets use DNS names.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub registry: String,
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.path)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Why a reference is not usable, and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefError {
    pub message: String,
    pub hint: String,
}

fn err(message: String, hint: &str) -> RefError {
    RefError {
        message,
        hint: hint.to_string(),
    }
}

const FULL: &str = "write a full reference like `registry.example.com/team/app:1.2`";

fn valid_component(c: &str) -> bool {
    // [a-z0-9]+ separated by `.`, `_`, `__` or `-`+ (distribution's reference grammar).
    !c.is_empty()
        && c.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && c.as_bytes()[0].is_ascii_alphanumeric()
        && c.as_bytes()[c.len() - 1].is_ascii_alphanumeric()
}

fn valid_host(h: &str) -> bool {
    let (name, port) = match h.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (h, None),
    };
    port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
        && !name.is_empty()
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// Parses a full image reference (registry host required).
pub fn parse(s: &str) -> Result<ImageRef, RefError> {
    let shown = format!("invalid image reference {s:?}");
    if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(err(format!("{shown}: empty or contains white space"), FULL));
    }
    if s.starts_with('[') {
        return Err(err(
            format!("{shown}: buildah rejects IPv6 literals in image references"),
            "use a DNS name that resolves to the IPv6 address (e.g. a Consul name, or `ip6-localhost` for ::1)",
        ));
    }
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => {
            let ok = d.strip_prefix("sha256:").is_some_and(|h| {
                h.len() == 64
                    && h.bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            });
            if !ok {
                return Err(err(
                    format!("{shown}: digest must be sha256:<64 lowercase hex>"),
                    FULL,
                ));
            }
            (r, Some(d.to_string()))
        }
        None => (s, None),
    };
    let Some((registry, remainder)) = rest.split_once('/') else {
        return Err(err(format!("{shown}: no registry host"), FULL));
    };
    if !(registry.contains('.') || registry.contains(':') || registry == "localhost")
        || !valid_host(registry)
    {
        return Err(err(
            format!("{shown}: {registry:?} is not a registry host"),
            FULL,
        ));
    }
    let (path, tag) = match remainder.rsplit_once(':') {
        Some((p, t)) if !t.contains('/') => (p, Some(t.to_string())),
        _ => (remainder, None),
    };
    if let Some(t) = &tag {
        let ok = !t.is_empty()
            && t.len() <= 128
            && (t.as_bytes()[0].is_ascii_alphanumeric() || t.as_bytes()[0] == b'_')
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !ok {
            return Err(err(
                format!("{shown}: bad tag {t:?}"),
                "tags are up to 128 of [A-Za-z0-9_.-], not starting with . or -",
            ));
        }
    }
    if !path.split('/').all(valid_component) {
        return Err(err(
            format!("{shown}: repository path {path:?} must be lowercase letters, digits and . _ - separators"),
            FULL,
        ));
    }
    Ok(ImageRef {
        registry: registry.to_string(),
        path: path.to_string(),
        tag,
        digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_full_references() {
        for ok in [
            "localhost:5000/ns/app:1",
            "ip6-localhost:5001/app",
            "registry.example.com/team/sub/app:v1.2-rc_3",
            "reg.example.com:443/a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(parse(ok).is_ok(), "{ok}");
        }
        let r = parse("localhost:5000/ns/app:1").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.path.as_str(), r.tag.as_deref()),
            ("localhost:5000", "ns/app", Some("1"))
        );
        assert_eq!(r.to_string(), "localhost:5000/ns/app:1");
    }

    #[test]
    fn rejects_with_a_hint() {
        for bad in [
            "Bad Ref",
            "app:1",
            "docker.io/Team/app",
            "[::1]:5000/x",
            "localhost:5000/app:",
            "localhost:5000/app@sha256:12",
            "-x.com/app",
            "localhost:5000/a//b",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(!e.hint.is_empty(), "{bad}");
        }
        assert!(parse("[::1]:5000/x").unwrap_err().hint.contains("DNS name"));
    }
}
