//! Walking the context for the files a step reads. Only the selected paths are visited:
//! a `COPY app.py /` in a 20,000-file context stats one file.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::pattern::{clean, glob_match, Matcher};

#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("COPY source {pattern:?} is outside the build context")]
    OutsideContext { pattern: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    Other,
}

/// One selected path of the context with the metadata that goes into its checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative to the context root, `/`-separated, no leading `./`.
    pub path: String,
    pub kind: EntryKind,
    /// Permission bits including setuid/setgid/sticky.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub link_target: Option<String>,
    /// For the checksum cache: a file whose (dev, ino, size, mtime, ctime) are unchanged
    /// keeps its previous content hash.
    pub(crate) stamp: Stamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Stamp {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
}

/// The entries of `root` that `includes` select and `excludes` does not exclude, sorted by
/// path, parents before children. An include that is a directory selects everything below
/// it; wildcards match one path element each (Go's `filepath.Match`). An include that
/// matches nothing selects nothing (the caller decides whether that is an error).
pub fn select(
    root: &Path,
    includes: &[String],
    excludes: &Matcher,
) -> Result<Vec<Entry>, SelectError> {
    let mut out = Vec::new();
    for inc in includes {
        let cleaned = clean(inc.trim_start_matches('/'));
        if cleaned == ".." || cleaned.starts_with("../") {
            return Err(SelectError::OutsideContext {
                pattern: inc.clone(),
            });
        }
        let elements: Vec<&str> = if cleaned == "." {
            vec![]
        } else {
            cleaned.split('/').collect()
        };
        expand(root, String::new(), &elements, excludes, &mut out)?;
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out.dedup_by(|a, b| a.path == b.path);
    Ok(out)
}

fn has_magic(element: &str) -> bool {
    element.contains(['*', '?', '[', '\\'])
}

/// Follow the include pattern's elements from `prefix`; at the end, take the whole subtree.
fn expand(
    root: &Path,
    prefix: String,
    elements: &[&str],
    excludes: &Matcher,
    out: &mut Vec<Entry>,
) -> Result<(), SelectError> {
    let Some((first, rest)) = elements.split_first() else {
        return walk(root, prefix, excludes, out);
    };
    let join = |name: &str| {
        if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}/{name}")
        }
    };
    if !has_magic(first) {
        let path = join(first);
        if fs::symlink_metadata(root.join(&path)).is_ok() {
            expand(root, path, rest, excludes, out)?;
        }
        return Ok(());
    }
    let dir = root.join(&prefix);
    let Ok(rd) = fs::read_dir(&dir) else {
        return Ok(());
    };
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| glob_match(first, n))
        .collect();
    names.sort();
    for name in names {
        expand(root, join(&name), rest, excludes, out)?;
    }
    Ok(())
}

/// Add `rel` and, for a directory, everything below it that is not excluded.
fn walk(
    root: &Path,
    rel: String,
    excludes: &Matcher,
    out: &mut Vec<Entry>,
) -> Result<(), SelectError> {
    let excluded = !rel.is_empty() && excludes.excludes(&rel);
    let full = root.join(&rel);
    let meta = fs::symlink_metadata(&full).map_err(|source| SelectError::Io {
        path: full.clone(),
        source,
    })?;
    if excluded && !(meta.is_dir() && excludes.has_exclusions()) {
        return Ok(());
    }
    if !rel.is_empty() && !excluded {
        out.push(entry(&full, rel.clone(), &meta)?);
    }
    if meta.is_dir() {
        let rd = fs::read_dir(&full).map_err(|source| SelectError::Io {
            path: full.clone(),
            source,
        })?;
        for e in rd {
            let e = e.map_err(|source| SelectError::Io {
                path: full.clone(),
                source,
            })?;
            let Ok(name) = e.file_name().into_string() else {
                tracing::warn!(dir = %full.display(), "skipping a file name that is not UTF-8");
                continue;
            };
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            walk(root, child, excludes, out)?;
        }
    }
    Ok(())
}

fn entry(full: &Path, path: String, meta: &fs::Metadata) -> Result<Entry, SelectError> {
    let ft = meta.file_type();
    let kind = if ft.is_file() {
        EntryKind::File
    } else if ft.is_dir() {
        EntryKind::Dir
    } else if ft.is_symlink() {
        EntryKind::Symlink
    } else {
        EntryKind::Other
    };
    let link_target = if ft.is_symlink() {
        let t = fs::read_link(full).map_err(|source| SelectError::Io {
            path: full.to_path_buf(),
            source,
        })?;
        Some(t.to_string_lossy().into_owned())
    } else {
        None
    };
    Ok(Entry {
        path,
        kind,
        mode: meta.permissions().mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        size: if ft.is_file() { meta.len() } else { 0 },
        link_target,
        stamp: Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            ctime_ns: meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for f in [
            "a.txt",
            "b.log",
            "src/main.c",
            "src/lib/x.c",
            "src/lib/x.o",
            "docs/r.md",
        ] {
            let p = d.path().join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, f).unwrap();
        }
        std::os::unix::fs::symlink("a.txt", d.path().join("link")).unwrap();
        d
    }

    fn paths(v: &[Entry]) -> Vec<&str> {
        v.iter().map(|e| e.path.as_str()).collect()
    }

    #[test]
    fn selects_only_what_is_named() {
        let d = tree();
        let none = Matcher::default();
        let v = select(d.path(), &["a.txt".into()], &none).unwrap();
        assert_eq!(paths(&v), ["a.txt"]);
        let v = select(d.path(), &["src".into(), "link".into()], &none).unwrap();
        assert_eq!(
            paths(&v),
            [
                "link",
                "src",
                "src/lib",
                "src/lib/x.c",
                "src/lib/x.o",
                "src/main.c"
            ]
        );
        assert_eq!(v[0].link_target.as_deref(), Some("a.txt"));
    }

    #[test]
    fn wildcards_and_excludes() {
        let d = tree();
        let ex = Matcher::from_dockerignore("**/*.o\n*.log", ".dockerignore").unwrap();
        let v = select(
            d.path(),
            &["*.txt".into(), "*.log".into(), "src/*".into()],
            &ex,
        )
        .unwrap();
        assert_eq!(paths(&v), ["a.txt", "src/lib", "src/lib/x.c", "src/main.c"]);
        let all = select(d.path(), &[".".into()], &ex).unwrap();
        assert!(!paths(&all).contains(&"src/lib/x.o"));
        assert!(paths(&all).contains(&"docs/r.md"));
    }

    #[test]
    fn reinclude_inside_excluded_dir() {
        let d = tree();
        let ex = Matcher::from_dockerignore("src\n!src/main.c", ".dockerignore").unwrap();
        let v = select(d.path(), &[".".into()], &ex).unwrap();
        let p = paths(&v);
        assert!(p.contains(&"src/main.c"));
        assert!(!p.contains(&"src/lib/x.c"));
    }

    #[test]
    fn escaping_the_context_is_refused() {
        let d = tree();
        let err = select(d.path(), &["../etc/passwd".into()], &Matcher::default()).unwrap_err();
        assert!(matches!(err, SelectError::OutsideContext { .. }));
        // A leading slash means the context root, as Docker's COPY does.
        let v = select(d.path(), &["/a.txt".into()], &Matcher::default()).unwrap();
        assert_eq!(paths(&v), ["a.txt"]);
    }
}
