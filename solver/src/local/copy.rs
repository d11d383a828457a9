//! COPY/ADD of files from a source tree (the build context or another state's merged view)
//! into a destination root, with Docker's rules: wildcards, a directory's contents rather
//! than the directory, destination directory vs file, `--chown`, `--chmod`, `--parents`,
//! `--exclude`, and `.dockerignore`d context files never copied. The rules are written once
//! against [`Dest`]; `copy_dir` writes files into a directory, `copy_layer` plans the
//! entries of a layer that is streamed into its blob without touching the disk.

use std::path::{Path, PathBuf};

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
    /// The layer planner cannot express this copy (it would replace a directory, follow a
    /// symlink the same step wrote, unpack an archive); the caller copies through an
    /// overlay directory instead. Never shown to users.
    #[error("this copy needs a directory to write into: {0}")]
    NeedsTree(String),
}

pub(crate) fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> CopyError {
    let path = path.to_path_buf();
    move |source| CopyError::Io { what, path, source }
}

/// Where a copy reads from.
pub struct CopySource<'a> {
    pub root: &'a Path,
    /// `.dockerignore` (for the context): patterns relative to the source root.
    pub excludes: Matcher,
    /// `COPY --exclude`: patterns relative to each source path (a matched file or
    /// directory is also tested by its own name), as BuildKit applies them.
    pub exclude: Matcher,
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

/// `rel` below the `--parents` pivot directory (`rel` itself without a pivot).
fn strip_pivot<'r>(rel: &'r str, pivot: &str) -> &'r str {
    if pivot.is_empty() || pivot == "." {
        return rel;
    }
    rel.strip_prefix(pivot)
        .and_then(|r| r.strip_prefix('/'))
        .unwrap_or(rel)
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
                    // --parents keeps the path below the pivot (all of it without one).
                    name: if c.parents {
                        strip_pivot(&top, &pivot).to_string()
                    } else {
                        basename(&top).to_string()
                    },
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
        strip_pivot(&rel, &pivot).to_string()
    } else {
        basename(&rel).to_string()
    };
    Ok(vec![Match {
        name,
        root_rel: resolved,
        entries,
    }])
}

/// Remove what `COPY --exclude` names: a whole match by its own name, entries below a
/// match by their path relative to it (an excluded directory takes its contents along).
fn drop_excluded(found: Vec<Match>, ex: &Matcher) -> Vec<Match> {
    found
        .into_iter()
        .filter(|m| m.root_rel.is_empty() || !ex.excludes(basename(&m.root_rel)))
        .map(|mut m| {
            let skip = if m.root_rel.is_empty() {
                0
            } else {
                m.root_rel.len() + 1
            };
            // The list is .dockerignore-like: `!` re-includes and the last match wins (the
            // Matcher also tests parents, so an excluded directory takes its contents along).
            let rel = |e: &Entry| {
                e.path
                    .get(skip..)
                    .filter(|r| !r.is_empty())
                    .map(str::to_owned)
            };
            let kept: Vec<bool> = m
                .entries
                .iter()
                .map(|e| rel(e).is_none_or(|r| !ex.excludes(&r)))
                .collect();
            // An excluded directory stays when something below it is re-included, so it keeps
            // its own mode and owner.
            let mut parents = std::collections::HashSet::new();
            for (e, _) in m.entries.iter().zip(&kept).filter(|(_, k)| **k) {
                let mut r = rel(e).unwrap_or_default();
                while let Some((p, _)) = r.rsplit_once('/') {
                    r = p.to_owned();
                    parents.insert(r.clone());
                }
            }
            let mut keep = kept.into_iter();
            m.entries.retain(|e| {
                keep.next().unwrap_or(true) || rel(e).is_some_and(|r| parents.contains(&r))
            });
            m
        })
        .collect()
}

/// Where a copy writes: paths are relative to the destination root, already resolved.
pub trait Dest {
    /// A new copy action starts: files are hardlinked to earlier copies of the same inode
    /// only within one action (BuildKit tracks links per copy, too).
    fn begin_action(&mut self);
    /// `path` (absolute in the image) relative to the root, following the root's symlinks
    /// without leaving it; missing components stay as they are.
    fn resolve(&self, path: &str) -> Result<PathBuf, CopyError>;
    /// Whether `rel` is a directory (following a final symlink, as `stat` does).
    fn is_dir(&self, rel: &Path) -> bool;
    /// A new directory at `rel` (0755, `owner` or root), replacing a non-directory.
    fn make_dir(&mut self, rel: &Path, owner: Option<Ids>) -> Result<(), CopyError>;
    /// Copy the source entry `e` (read from `from`) to `rel`, whose parent exists, with
    /// owner `ids` and permission bits `mode`.
    fn put(
        &mut self,
        rel: &Path,
        e: &Entry,
        from: &Path,
        ids: Ids,
        mode: u32,
    ) -> Result<(), CopyError>;
    /// ADD: unpack the archive at `archive` into the directory `dir`.
    fn extract(&mut self, archive: &Path, dir: &Path) -> Result<(), CopyError>;
}

/// Run one copy action into the directory `dest_root`.
pub fn copy(
    c: &Copy,
    src: &CopySource,
    dest_root: &Path,
    owner: Option<Ids>,
) -> Result<(), CopyError> {
    copy_into(c, src, &mut super::copy_dir::DirDest::new(dest_root), owner)
}

/// Run one copy action into `dest`.
pub fn copy_into(
    c: &Copy,
    src: &CopySource,
    dest: &mut dyn Dest,
    owner: Option<Ids>,
) -> Result<(), CopyError> {
    dest.begin_action();
    let mut found = matches(c, src)?;
    if !src.exclude.is_empty() {
        found = drop_excluded(found, &src.exclude);
    }
    let dest_dir_hint =
        c.dest.ends_with('/') || found.len() > 1 || (c.allow_wildcard && has_magic(&c.src));
    let dest_res = dest.resolve(&c.dest)?;
    let dest_is_dir = dest.is_dir(&dest_res);
    for m in &found {
        let is_dir =
            m.root_rel.is_empty() || m.entries.first().is_some_and(|e| e.kind == EntryKind::Dir);
        let is_file = m.entries.first().is_some_and(|e| e.kind == EntryKind::File);
        let archive = src.root.join(&m.root_rel);
        if c.unpack_archives && is_file && super::unpack::is_archive(&archive) {
            // ADD: an archive's contents go into the destination directory.
            let dir = ensure_dir_in(dest, &c.dest, owner, c.create_dest_path)?;
            dest.extract(&archive, &dir)?;
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
            ensure_dir_in(dest, &target, owner, c.create_dest_path)?;
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
            write_entry(c, src, e, dest, &dest_path, owner)?;
        }
    }
    Ok(())
}

/// Create `path` (and missing parents, 0755) inside the directory `root`; existing dirs stay
/// as they are. Returns the full path.
pub fn ensure_dir(
    root: &Path,
    path: &str,
    owner: Option<Ids>,
    parents: bool,
) -> Result<PathBuf, CopyError> {
    let rel = ensure_dir_in(
        &mut super::copy_dir::DirDest::new(root),
        path,
        owner,
        parents,
    )?;
    Ok(root.join(rel))
}

/// [`ensure_dir`] on any destination; returns the resolved relative path.
pub fn ensure_dir_in(
    dest: &mut dyn Dest,
    path: &str,
    owner: Option<Ids>,
    parents: bool,
) -> Result<PathBuf, CopyError> {
    let rel = dest.resolve(path)?;
    if dest.is_dir(&rel) {
        return Ok(rel);
    }
    if let Some(parent) = Path::new(path).parent() {
        let p = parent.to_string_lossy();
        if p != "/" && !p.is_empty() {
            let prel = dest.resolve(&p)?;
            if !dest.is_dir(&prel) {
                if !parents {
                    return Err(CopyError::NotFound {
                        src: p.into_owned(),
                        hint: " (the destination's parent directory does not exist)",
                    });
                }
                ensure_dir_in(dest, &p, owner, parents)?;
            }
        }
    }
    dest.make_dir(&rel, owner)?;
    Ok(rel)
}

fn write_entry(
    c: &Copy,
    src: &CopySource,
    e: &Entry,
    dest: &mut dyn Dest,
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
    if e.kind == EntryKind::Other {
        tracing::warn!(path = %e.path, "skipping a special file (socket, fifo or device) in COPY");
        return Ok(());
    }
    let parent_rel = ensure_dir_in(dest, &parent, owner, c.create_dest_path)?;
    let ids = match owner {
        Some(ids) => ids,
        None if src.from_context => (0, 0),
        None => (e.uid, e.gid),
    };
    let mode = if e.kind == EntryKind::Symlink {
        0o777
    } else {
        c.mode.unwrap_or(e.mode)
    };
    dest.put(
        &parent_rel.join(leaf),
        e,
        &src.root.join(&e.path),
        ids,
        mode,
    )
}
