//! Compute a layer's entries: from an overlayfs upper dir (overlay whiteouts become OCI ones),
//! from two directory trees compared, or from a whole tree. Output order is the tar order:
//! depth first, a directory before its opaque marker before its children, names sorted by bytes.

use std::collections::HashMap;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::entry::{entry_from_fs, read_xattrs, Entry, EntryKind};

#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("walking {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn ioe(path: &Path) -> impl FnOnce(io::Error) -> DiffError + '_ {
    move |source| DiffError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn sorted_names(dir: &Path) -> Result<Vec<std::ffi::OsString>, DiffError> {
    let mut names = Vec::new();
    for e in fs::read_dir(dir).map_err(ioe(dir))? {
        names.push(e.map_err(ioe(dir))?.file_name());
    }
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

/// Tracks inodes already written so further names become hardlink entries.
#[derive(Default)]
struct Links {
    first: HashMap<(u64, u64), PathBuf>,
    /// Non-directory paths written to this layer so far (hardlink targets must be among them).
    emitted: std::collections::HashSet<PathBuf>,
}

impl Links {
    fn entry(&mut self, rel: &Path, abs: &Path, md: &Metadata) -> Result<Entry, DiffError> {
        let mut e = entry_from_fs(rel, abs, md).map_err(ioe(abs))?;
        if md.nlink() > 1 && !md.is_dir() {
            let key = (md.dev(), md.ino());
            if let Some(first) = self.first.get(&key) {
                e.kind = EntryKind::Hardlink(first.clone());
                e.size = 0;
                e.source = None;
            } else {
                self.first.insert(key, rel.to_path_buf());
            }
        }
        Ok(e)
    }
}

fn is_overlay_whiteout(md: &Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

fn is_overlay_opaque(path: &Path) -> bool {
    ["trusted.overlay.opaque", "user.overlay.opaque"]
        .iter()
        .any(|k| matches!(xattr::get(path, k), Ok(Some(v)) if v == b"y"))
}

/// Entries of a layer captured as an overlayfs upper directory.
pub fn diff_overlay_upper(upper: &Path) -> Result<Vec<Entry>, DiffError> {
    let mut out = Vec::new();
    let mut links = Links::default();
    walk_upper(upper, Path::new(""), &mut out, &mut links)?;
    Ok(out)
}

fn walk_upper(
    root: &Path,
    rel: &Path,
    out: &mut Vec<Entry>,
    links: &mut Links,
) -> Result<(), DiffError> {
    let dir = root.join(rel);
    for name in sorted_names(&dir)? {
        let r = rel.join(&name);
        let abs = root.join(&r);
        let md = fs::symlink_metadata(&abs).map_err(ioe(&abs))?;
        if is_overlay_whiteout(&md) {
            out.push(marker(r, EntryKind::Whiteout, md.mtime()));
            continue;
        }
        out.push(links.entry(&r, &abs, &md)?);
        if md.is_dir() {
            if is_overlay_opaque(&abs) {
                out.push(marker(r.clone(), EntryKind::Opaque, md.mtime()));
            }
            walk_upper(root, &r, out, links)?;
        }
    }
    Ok(())
}

fn marker(path: PathBuf, kind: EntryKind, mtime: i64) -> Entry {
    Entry {
        path,
        kind,
        mode: 0,
        uid: 0,
        gid: 0,
        mtime,
        size: 0,
        xattrs: Vec::new(),
        source: None,
    }
}

/// Every object under `root` as a layer (a diff against nothing).
pub fn tree_entries(root: &Path) -> Result<Vec<Entry>, DiffError> {
    let mut out = Vec::new();
    let mut links = Links::default();
    walk_pair(root, None, Path::new(""), &mut out, &mut links)?;
    Ok(out)
}

/// What changed from `lower` to `upper`: added and modified objects, whiteouts for deletions.
pub fn diff_trees(lower: &Path, upper: &Path) -> Result<Vec<Entry>, DiffError> {
    let mut out = Vec::new();
    let mut links = Links::default();
    walk_pair(upper, Some(lower), Path::new(""), &mut out, &mut links)?;
    Ok(out)
}

fn same_object(
    a: &Metadata,
    a_path: &Path,
    b: &Metadata,
    b_path: &Path,
) -> Result<bool, DiffError> {
    if a.file_type() != b.file_type()
        || a.mode() != b.mode()
        || a.uid() != b.uid()
        || a.gid() != b.gid()
        || a.rdev() != b.rdev()
        || (!a.is_dir()
            && (a.len() != b.len() || a.mtime() != b.mtime() || a.mtime_nsec() != b.mtime_nsec()))
    {
        return Ok(false);
    }
    if a.file_type().is_symlink()
        && fs::read_link(a_path).map_err(ioe(a_path))?
            != fs::read_link(b_path).map_err(ioe(b_path))?
    {
        return Ok(false);
    }
    Ok(read_xattrs(a_path).map_err(ioe(a_path))? == read_xattrs(b_path).map_err(ioe(b_path))?)
}

/// Walk `upper`'s directory `rel`, comparing with `lower` when given. Returns whether anything
/// under `rel` was emitted, so unchanged parents of changed files are still written (apply
/// then recreates them with their real owner and mode).
fn walk_pair(
    upper: &Path,
    lower: Option<&Path>,
    rel: &Path,
    out: &mut Vec<Entry>,
    links: &mut Links,
) -> Result<bool, DiffError> {
    let udir = upper.join(rel);
    let unames = sorted_names(&udir)?;
    let lnames = match lower {
        Some(l) if l.join(rel).is_dir() && !l.join(rel).is_symlink() => sorted_names(&l.join(rel))?,
        _ => Vec::new(),
    };
    let mut emitted = false;
    let (mut i, mut j) = (0, 0);
    while i < unames.len() || j < lnames.len() {
        let ord = match (unames.get(i), lnames.get(j)) {
            (Some(u), Some(l)) => u.as_bytes().cmp(l.as_bytes()),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        if ord == std::cmp::Ordering::Greater {
            // Only in lower: deleted.
            let r = rel.join(&lnames[j]);
            let mtime = fs::symlink_metadata(&udir).map(|m| m.mtime()).unwrap_or(0);
            out.push(marker(r, EntryKind::Whiteout, mtime));
            emitted = true;
            j += 1;
            continue;
        }
        let name = &unames[i];
        i += 1;
        let r = rel.join(name);
        let uabs = upper.join(&r);
        let umd = fs::symlink_metadata(&uabs).map_err(ioe(&uabs))?;
        let lmd = if ord == std::cmp::Ordering::Equal {
            j += 1;
            let labs = lower.map(|l| l.join(&r));
            labs.and_then(|p| fs::symlink_metadata(&p).ok().map(|m| (p, m)))
        } else {
            None
        };
        let changed = match &lmd {
            Some((lp, lm)) => !same_object(lm, lp, &umd, &uabs)?,
            None => true,
        };
        if umd.is_dir() {
            let mark = out.len();
            let lower_for_child = match &lmd {
                Some((_, lm)) if lm.is_dir() => lower,
                _ => None,
            };
            let child = walk_pair(upper, lower_for_child, &r, out, links)?;
            if changed || child {
                let e = links.entry(&r, &uabs, &umd)?;
                out.insert(mark, e);
                emitted = true;
            }
        } else if changed {
            let mut e = links.entry(&r, &uabs, &umd)?;
            if let EntryKind::Hardlink(target) = &e.kind {
                // The first name of this inode may be unchanged and absent from this layer;
                // then write this name as a full file instead of a dangling link.
                if !links.emitted.contains(target) {
                    e = entry_from_fs(&r, &uabs, &umd).map_err(ioe(&uabs))?;
                }
            }
            links.emitted.insert(r);
            out.push(e);
            emitted = true;
        }
    }
    Ok(emitted)
}
