//! Path arithmetic on container (Unix) paths, as Go's `path` package and BuildKit's
//! `system.NormalizePath` do it: cleaning, joining, base names, WORKDIR and COPY
//! destinations. One module for the whole crate, so the compiler and the instruction
//! parsers (mount defaults) agree on what a path means.
//!
//! API: [`clean`], [`join`], [`base`], [`normalize_workdir`], [`dest_path`].

/// Go's `path.Clean`: removes `.`, resolves `..`, collapses slashes; `""` -> `"."`.
pub fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

/// Go's `path.Join`: joins non-empty elements and cleans the result.
pub fn join(parts: &[&str]) -> String {
    let joined: Vec<&str> = parts.iter().copied().filter(|p| !p.is_empty()).collect();
    if joined.is_empty() {
        return String::new();
    }
    clean(&joined.join("/"))
}

/// Go's `path.Base`: the last element, trailing slashes dropped; `""` -> `"."`, and a
/// path of only slashes -> `"/"`.
pub fn base(p: &str) -> String {
    let trimmed = p.trim_end_matches('/');
    if trimmed.is_empty() {
        return if p.is_empty() { ".".into() } else { "/".into() };
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_string()
}

/// The new working directory after `WORKDIR path` when the current one is `current`
/// (empty meaning `/`).
pub fn normalize_workdir(current: &str, path: &str) -> String {
    if path.starts_with('/') {
        return clean(path);
    }
    let base = if current.is_empty() { "/" } else { current };
    clean(&format!("/{base}/{path}"))
}

/// A COPY/ADD destination made absolute against `workdir`; a trailing slash (meaning
/// "into this directory") is kept.
pub fn dest_path(workdir: &str, dest: &str) -> String {
    let keep_slash = dest.ends_with('/') || dest.ends_with("/.") || dest == "." || dest.is_empty();
    let dest = if dest.is_empty() { "./" } else { dest };
    let base = if dest.starts_with('/') {
        clean(dest)
    } else {
        clean(&format!(
            "/{}/{}",
            if workdir.is_empty() { "/" } else { workdir },
            dest
        ))
    };
    if keep_slash && !base.ends_with('/') {
        format!("{base}/")
    } else {
        base
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_matches_go() {
        for (i, o) in [
            ("", "."),
            ("/", "/"),
            ("a/b/../c", "a/c"),
            ("/../a", "/a"),
            ("../a", "../a"),
            ("a//b/./", "a/b"),
            ("/a/b/..", "/a"),
        ] {
            assert_eq!(clean(i), o, "{i}");
        }
        assert_eq!(join(&["/", "a", "", "b/"]), "/a/b");
    }

    #[test]
    fn base_matches_go() {
        for (i, o) in [
            ("", "."),
            ("/", "/"),
            ("///", "/"),
            ("a", "a"),
            ("/a/b", "b"),
            ("/a/b//", "b"),
            ("a/b/.", "."),
        ] {
            assert_eq!(base(i), o, "{i}");
        }
    }

    #[test]
    fn workdir_and_dest() {
        assert_eq!(normalize_workdir("", "app"), "/app");
        assert_eq!(normalize_workdir("/app", "src/../lib"), "/app/lib");
        assert_eq!(normalize_workdir("/app", "/x/"), "/x");
        assert_eq!(dest_path("/app", "."), "/app/");
        assert_eq!(dest_path("/app", "bin/"), "/app/bin/");
        assert_eq!(dest_path("/app", "bin"), "/app/bin");
        assert_eq!(dest_path("", "/etc/x"), "/etc/x");
        assert_eq!(dest_path("/", "/"), "/");
    }
}
