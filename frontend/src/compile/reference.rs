//! Image references normalised as Docker does (`busybox` -> `docker.io/library/busybox:latest`).
//! The store has its own reference type, but the frontend must not depend on the store, so
//! this is a small, self-contained port of the grammar of `distribution/reference`.
//!
//! API: [`normalize`] (full normalised reference with `:latest` added when there is no tag
//! or digest) and [`ReferenceError`].

const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DOMAIN: &str = "index.docker.io";
const OFFICIAL_PREFIX: &str = "library/";
const MAX_NAME_LEN: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid reference format: the image name is empty")]
    Empty,
    #[error("invalid reference format: repository name {0:?} must be lowercase")]
    Uppercase(String),
    #[error("invalid reference format: {0:?} is not a valid image reference (expected [registry/]name[:tag][@digest])")]
    Invalid(String),
    #[error("invalid repository name {0:?}: cannot specify 64-byte hexadecimal strings")]
    HexName(String),
    #[error("invalid reference format: repository name {0:?} is longer than 255 characters")]
    TooLong(String),
}

fn is_alnum_lower(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// A path component: `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`.
fn valid_component(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || !is_alnum_lower(b[0] as char) || !is_alnum_lower(b[b.len() - 1] as char) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i] as char;
        if is_alnum_lower(c) {
            i += 1;
            continue;
        }
        // A separator run: `.`, `_`, `__` or one or more `-`.
        let start = i;
        while i < b.len() && !is_alnum_lower(b[i] as char) {
            i += 1;
        }
        let sep = &s[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// A registry host: dot-separated labels of `[a-zA-Z0-9-]`, or a bracketed IPv6
/// address, with an optional `:port`.
fn valid_domain(s: &str) -> bool {
    let (host_ok, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((ip, tail)) = rest.split_once(']') else {
            return false;
        };
        let ip_ok = !ip.is_empty()
            && ip
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
        match tail {
            "" => (ip_ok, None),
            _ => match tail.strip_prefix(':') {
                Some(p) => (ip_ok, Some(p)),
                None => return false,
            },
        }
    } else {
        let (host, port) = match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        };
        let ok = !host.is_empty()
            && host.split('.').all(|l| {
                !l.is_empty()
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            });
        (ok, port)
    };
    host_ok && port.is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

fn valid_tag(t: &str) -> bool {
    let mut chars = t.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '_')
        && t.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
}

/// `algorithm:hex` with BuildKit's checks for sha256/sha512 lengths.
fn valid_digest(d: &str) -> bool {
    let Some((alg, hex)) = d.split_once(':') else {
        return false;
    };
    let alg_ok = !alg.is_empty()
        && alg.split(['+', '.', '_', '-']).all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    let hex_ok = hex.len() >= 32
        && hex
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase());
    let len_ok = match alg {
        "sha256" => hex.len() == 64,
        "sha512" => hex.len() == 128,
        _ => true,
    };
    alg_ok && hex_ok && len_ok
}

/// Normalises `reference` to `domain/path[:tag][@digest]`, adding `docker.io`,
/// `library/` and `:latest` where Docker does.
pub fn normalize(reference: &str) -> Result<String, ReferenceError> {
    if reference.is_empty() {
        return Err(ReferenceError::Empty);
    }
    let invalid = || ReferenceError::Invalid(reference.to_string());
    let (rest, digest) = match reference.split_once('@') {
        Some((r, d)) => {
            if !valid_digest(d) {
                return Err(invalid());
            }
            (r, Some(d))
        }
        None => (reference, None),
    };
    // A tag is after the last `:` that comes after the last `/`.
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => {
            let (n, t) = rest.split_at(last_slash + i);
            let t = &t[1..];
            if !valid_tag(t) {
                return Err(invalid());
            }
            (n, Some(t))
        }
        None => (rest, None),
    };
    if name.is_empty() {
        return Err(invalid());
    }
    let (domain, path) = match name.split_once('/') {
        Some((first, tail))
            if first.contains('.')
                || first.contains(':')
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (first.to_string(), tail.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    let domain = if domain == LEGACY_DOMAIN {
        DEFAULT_DOMAIN.to_string()
    } else {
        domain
    };
    if !valid_domain(&domain) {
        return Err(invalid());
    }
    if path.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(ReferenceError::Uppercase(path));
    }
    if !path.split('/').all(valid_component) {
        return Err(invalid());
    }
    if domain == DEFAULT_DOMAIN && path.len() == 64 && path.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ReferenceError::HexName(path));
    }
    let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
        format!("{OFFICIAL_PREFIX}{path}")
    } else {
        path
    };
    let mut out = format!("{domain}/{path}");
    if out.len() > MAX_NAME_LEN {
        return Err(ReferenceError::TooLong(out));
    }
    match (tag, digest) {
        (Some(t), _) => {
            out.push(':');
            out.push_str(t);
        }
        (None, None) => out.push_str(":latest"),
        (None, Some(_)) => {}
    }
    if let Some(d) = digest {
        out.push('@');
        out.push_str(d);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_docker() {
        let cases = [
            ("busybox", "docker.io/library/busybox:latest"),
            ("busybox:1.36", "docker.io/library/busybox:1.36"),
            ("library/busybox", "docker.io/library/busybox:latest"),
            ("user/app:v1", "docker.io/user/app:v1"),
            ("index.docker.io/user/app", "docker.io/user/app:latest"),
            ("ghcr.io/o/r/x:1", "ghcr.io/o/r/x:1"),
            ("localhost:5000/app", "localhost:5000/app:latest"),
            ("localhost/app", "localhost/app:latest"),
            ("my.reg:5000/a_b/c-d.e:tag", "my.reg:5000/a_b/c-d.e:tag"),
            (
                "alpine@sha256:0000000000000000000000000000000000000000000000000000000000000000",
                "docker.io/library/alpine@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(normalize(input).as_deref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn rejects_invalid() {
        for bad in [
            "",
            "alpine:",
            "Alpine",
            ":tag",
            "a//b",
            "a:b:c",
            "-a",
            "a@sha256:12",
            "a b",
        ] {
            assert!(normalize(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(matches!(
            normalize("Alpine"),
            Err(ReferenceError::Uppercase(_))
        ));
    }
}
