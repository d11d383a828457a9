//! Resolving a container path against the rootfs with symlinks interpreted INSIDE the
//! rootfs: `..` stops at the root and an absolute link target restarts at the root. This
//! keeps a WORKDIR or volume destination that is a symlink (e.g. `/data -> /etc` or
//! `-> ../../../../host`) from reaching the host (the CVE-2024-21626 family).

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Linux's own limit on symlinks followed in one lookup.
const MAX_SYMLINKS: usize = 40;

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("resolving {path:?} inside {root}: more than {MAX_SYMLINKS} symlinks (a loop?)")]
    TooManyLinks { root: PathBuf, path: String },
    #[error("resolving {path:?} inside {root}: reading {at}: {source}")]
    Io {
        root: PathBuf,
        path: String,
        at: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Returns the path relative to `root` that `path` names inside the container, following
/// existing symlinks within `root`. Missing components are kept as they are (to be created).
pub fn resolve_in_root(root: &Path, path: &str) -> Result<PathBuf, ResolveError> {
    let mut pending: VecDeque<OsString> = components(Path::new(path));
    let mut resolved: Vec<OsString> = Vec::new();
    let mut links = 0usize;
    while let Some(part) = pending.pop_front() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let mut candidate = root.to_path_buf();
        candidate.extend(&resolved);
        candidate.push(&part);
        match std::fs::symlink_metadata(&candidate) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(ResolveError::TooManyLinks {
                        root: root.to_path_buf(),
                        path: path.to_string(),
                    });
                }
                let target = std::fs::read_link(&candidate).map_err(|source| ResolveError::Io {
                    root: root.to_path_buf(),
                    path: path.to_string(),
                    at: candidate.clone(),
                    source,
                })?;
                if target.is_absolute() {
                    resolved.clear();
                }
                for (i, c) in components(&target).into_iter().enumerate() {
                    pending.insert(i, c);
                }
            }
            Ok(_) => resolved.push(part),
            Err(e) if e.kind() == io::ErrorKind::NotFound => resolved.push(part),
            Err(source) => {
                return Err(ResolveError::Io {
                    root: root.to_path_buf(),
                    path: path.to_string(),
                    at: candidate,
                    source,
                })
            }
        }
    }
    Ok(resolved.into_iter().collect())
}

/// Normal and `..` components; `/` and `.` carry no meaning here.
fn components(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn plain_paths_and_dotdot_stay_inside() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("a/b")).unwrap();
        assert_eq!(
            resolve_in_root(root.path(), "/a/b").unwrap(),
            PathBuf::from("a/b")
        );
        assert_eq!(
            resolve_in_root(root.path(), "/../../a/../../x").unwrap(),
            PathBuf::from("x")
        );
        assert_eq!(resolve_in_root(root.path(), "/").unwrap(), PathBuf::new());
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        symlink("/etc", root.path().join("abs")).unwrap();
        symlink("../../../../../../tmp", root.path().join("rel")).unwrap();
        symlink("abs/sub", root.path().join("chain")).unwrap();
        assert_eq!(
            resolve_in_root(root.path(), "/abs/x").unwrap(),
            PathBuf::from("etc/x")
        );
        assert_eq!(
            resolve_in_root(root.path(), "/rel").unwrap(),
            PathBuf::from("tmp")
        );
        assert_eq!(
            resolve_in_root(root.path(), "/chain").unwrap(),
            PathBuf::from("etc/sub")
        );
    }

    #[test]
    fn symlink_loops_are_an_error() {
        let root = tempfile::tempdir().unwrap();
        symlink("/b", root.path().join("a")).unwrap();
        symlink("/a", root.path().join("b")).unwrap();
        let err = resolve_in_root(root.path(), "/a").unwrap_err();
        assert!(err.to_string().contains("symlinks"), "{err}");
    }
}
