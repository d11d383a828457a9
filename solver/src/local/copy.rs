//! COPY/ADD of files from a source tree (the build context or another state's merged view)
//! into a destination root, with Docker's rules: wildcards, a directory's contents rather
//! than the directory, destination directory vs file, `--chown`, `--chmod`, `--parents`,
//! `--exclude`, and `.dockerignore`d context files never copied.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::AtFlags;
use nix::sys::stat::{utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchownat, Gid, Uid};

use kiln_executor::securejoin::resolve_in_root;
use kiln_frontend::graph::Copy;

use crate::context::pattern::clean;
use crate::context::select::Entry;
use crate::context::{select, EntryKind, Matcher, SelectError};

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("\"{src}\": not found{hint}")]
    NotFound { src: String, hint: &'static str },
    #[error(transparent)]
    Select(#[from] SelectError),
    #[error(transparent)]
    Resolve(#[from] kiln_executor::securejoin::ResolveError),
    #[error("setting owner or times of {path}: {source}")]
    Meta {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
}

pub(crate) fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> CopyError {
    let path = path.to_path_buf();
    move |source| CopyError::Io { what, path, source }
}

/// Where a copy reads from.
pub struct CopySource<'a> {
    pub root: &'a Path,
    /// `.dockerignore` (for the context) and `--exclude` patterns.
    pub excludes: Matcher,
    /// Context files belong to root in the image; files of another stage keep their owner.
    pub from_context: bool,
}

/// Numeric owner for everything a copy writes.
pub type Ids = (u32, u32);

fn has_magic(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

fn depth(rel: &str) -> usize {
    if rel.is_empty() || rel == "." {
        0
    } else {
        rel.split('/').count()
    }
}

fn basename(rel: &str) -> &str {
    rel.rsplit('/').next().unwrap_or(rel)
}

/// One matched source path and the entries below it (itself first).
struct Match {
    /// The name the match is copied under (the source's own name, even when it is a link).
    name: String,
    root_rel: String,
    entries: Vec<Entry>,
}

/// Expand a source pattern into matches.
fn matches(c: &Copy, src: &CopySource) -> Result<Vec<Match>, CopyError> {
    let (pivot, pattern) = match c.src.split_once("/./") {
        Some((p, rest)) if c.parents => (clean(p.trim_start_matches('/')), rest.to_string()),
        _ => (String::new(), c.src.clone()),
    };
    let joined = if pivot.is_empty() || pivot == "." {
        clean(pattern.trim_start_matches('/'))
    } else {
        clean(&format!("{pivot}/{pattern}"))
    };
    let rel = if joined == "." { String::new() } else { joined };
    if c.allow_wildcard && has_magic(&rel) {
        let entries = select(src.root, std::slice::from_ref(&rel), &src.excludes)?;
        let n = depth(&rel);
        let mut out: Vec<Match> = Vec::new();
        for e in entries {
            let top: String = e.path.split('/').take(n).collect::<Vec<_>>().join("/");
            match out.last_mut() {
                Some(m) if m.root_rel == top => m.entries.push(e),
                _ => out.push(Match {
                    name: basename(&top).to_string(),
                    root_rel: top,
                    entries: vec![e],
                }),
            }
        }
        if out.is_empty() && !c.allow_empty_wildcard {
            return Err(CopyError::NotFound {
                src: c.src.clone(),
                hint: " (no file matches the pattern)",
            });
        }
        return Ok(out);
    }
    // A literal path: follow symlinks inside the source root, never out of it.
    let resolved = if rel.is_empty() || !c.follow_symlinks {
        PathBuf::from(&rel)
    } else {
        resolve_in_root(src.root, &rel)?
    };
    let resolved = resolved.to_string_lossy().into_owned();
    let entries = if resolved.is_empty() {
        select(src.root, &[".".to_string()], &src.excludes)?
    } else {
        select(src.root, std::slice::from_ref(&resolved), &src.excludes)?
    };
    let root_exists = resolved.is_empty() || entries.first().is_some_and(|e| e.path == resolved);
    if !root_exists {
        return Err(CopyError::NotFound {
            src: c.src.clone(),
            hint: if src.from_context {
                " in the build context (or excluded by .dockerignore)"
            } else {
                ""
            },
        });
    }
    let name = if c.parents {
        rel.strip_prefix(&format!("{pivot}/"))
            .unwrap_or(&rel)
            .to_string()
    } else {
        basename(&rel).to_string()
    };
    Ok(vec![Match {
        name,
        root_rel: resolved,
        entries,
    }])
}

/// Run one copy action into `dest_root`.
pub fn copy(
    c: &Copy,
    src: &CopySource,
    dest_root: &Path,
    owner: Option<Ids>,
) -> Result<(), CopyError> {
    let found = matches(c, src)?;
    let dest_dir_hint =
        c.dest.ends_with('/') || found.len() > 1 || (c.allow_wildcard && has_magic(&c.src));
    let dest_res = dest_root.join(resolve_in_root(dest_root, &c.dest)?);
    let dest_is_dir = dest_res.is_dir();
    for m in &found {
        let is_dir =
            m.root_rel.is_empty() || m.entries.first().is_some_and(|e| e.kind == EntryKind::Dir);
        let is_file = m.entries.first().is_some_and(|e| e.kind == EntryKind::File);
        let archive = src.root.join(&m.root_rel);
        if c.unpack_archives && is_file && super::unpack::is_archive(&archive) {
            // ADD: an archive's contents go into the destination directory.
            let dir = ensure_dir(dest_root, &c.dest, owner, c.create_dest_path)?;
            super::unpack::extract(&archive, &dir)?;
            continue;
        }
        let target = if is_dir && c.dir_contents_only && !c.parents {
            c.dest.clone()
        } else if dest_dir_hint || dest_is_dir || c.parents {
            format!("{}/{}", c.dest.trim_end_matches('/'), m.name)
        } else {
            c.dest.clone()
        };
        let prefix_len = if m.root_rel.is_empty() {
            0
        } else {
            m.root_rel.len() + 1
        };
        if is_dir {
            ensure_dir(dest_root, &target, owner, c.create_dest_path)?;
        }
        for e in &m.entries {
            let sub = if e.path == m.root_rel {
                String::new()
            } else {
                e.path.get(prefix_len..).unwrap_or_default().to_string()
            };
            if sub.is_empty() && is_dir {
                continue; // the destination directory itself, made above
            }
            let dest_path = if sub.is_empty() {
                target.clone()
            } else {
                format!("{}/{sub}", target.trim_end_matches('/'))
            };
            write_entry(c, src, e, dest_root, &dest_path, owner)?;
        }
    }
    Ok(())
}

/// Create `path` (and missing parents, 0755) inside the root; existing dirs stay as they are.
pub fn ensure_dir(
    root: &Path,
    path: &str,
    owner: Option<Ids>,
    parents: bool,
) -> Result<PathBuf, CopyError> {
    let full = root.join(resolve_in_root(root, path)?);
    if full.is_dir() {
        return Ok(full);
    }
    if let Some(parent) = Path::new(path).parent() {
        let p = parent.to_string_lossy();
        if p != "/" && !p.is_empty() {
            let pfull = root.join(resolve_in_root(root, &p)?);
            if !pfull.is_dir() {
                if !parents {
                    return Err(CopyError::NotFound {
                        src: p.into_owned(),
                        hint: " (the destination's parent directory does not exist)",
                    });
                }
                ensure_dir(root, &p, owner, parents)?;
            }
        }
    }
    if fs::symlink_metadata(&full).is_ok() {
        fs::remove_file(&full).map_err(io("replace", &full))?;
    }
    fs::create_dir(&full).map_err(io("create directory", &full))?;
    fs::set_permissions(&full, fs::Permissions::from_mode(0o755)).map_err(io("chmod", &full))?;
    if let Some((u, g)) = owner {
        chown(&full, u, g)?;
    }
    Ok(full)
}

fn chown(path: &Path, uid: u32, gid: u32) -> Result<(), CopyError> {
    fchownat(
        None,
        path,
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(|source| CopyError::Meta {
        path: path.to_path_buf(),
        source,
    })
}

fn write_entry(
    c: &Copy,
    src: &CopySource,
    e: &Entry,
    dest_root: &Path,
    dest_path: &str,
    owner: Option<Ids>,
) -> Result<(), CopyError> {
    let p = Path::new(dest_path);
    let parent = p
        .parent()
        .map(|x| x.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".into());
    let Some(leaf) = p.file_name() else {
        return Ok(()); // copying onto "/" itself: nothing to write for the root
    };
    let parent_full = ensure_dir(dest_root, &parent, owner, c.create_dest_path)?;
    let full = parent_full.join(leaf);
    let existing = fs::symlink_metadata(&full).ok();
    let from = src.root.join(&e.path);
    match e.kind {
        EntryKind::Dir => {
            if existing.as_ref().is_some_and(|m| m.is_dir()) {
                return Ok(());
            }
            remove_existing(&full, existing.as_ref())?;
            fs::create_dir(&full).map_err(io("create directory", &full))?;
        }
        EntryKind::File => {
            remove_existing(&full, existing.as_ref())?;
            fs::copy(&from, &full).map_err(io("copy file to", &full))?;
        }
        EntryKind::Symlink => {
            remove_existing(&full, existing.as_ref())?;
            let target = e.link_target.clone().unwrap_or_default();
            symlink(&target, &full).map_err(io("create symlink", &full))?;
        }
        EntryKind::Other => {
            tracing::warn!(path = %e.path, "skipping a special file (socket, fifo or device) in COPY");
            return Ok(());
        }
    }
    let (uid, gid) = match owner {
        Some(ids) => ids,
        None if src.from_context => (0, 0),
        None => (e.uid, e.gid),
    };
    chown(&full, uid, gid)?;
    if e.kind != EntryKind::Symlink {
        let mode = c.mode.unwrap_or(e.mode);
        fs::set_permissions(&full, fs::Permissions::from_mode(mode)).map_err(io("chmod", &full))?;
    }
    let secs = e.stamp.mtime_ns.div_euclid(1_000_000_000);
    let nanos = e.stamp.mtime_ns.rem_euclid(1_000_000_000);
    let t = TimeSpec::new(secs, nanos);
    utimensat(None, &full, &t, &t, UtimensatFlags::NoFollowSymlink).map_err(|source| {
        CopyError::Meta {
            path: full.clone(),
            source,
        }
    })?;
    Ok(())
}

fn remove_existing(full: &Path, existing: Option<&fs::Metadata>) -> Result<(), CopyError> {
    match existing {
        None => Ok(()),
        Some(m) if m.is_dir() => fs::remove_dir_all(full).map_err(io("replace directory", full)),
        Some(_) => fs::remove_file(full).map_err(io("replace", full)),
    }
}
