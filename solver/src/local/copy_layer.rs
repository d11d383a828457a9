//! The copy destination that writes nothing: it plans the entries of the new layer (where
//! each source file goes, with which owner, mode and time) against a read-only view of the
//! base filesystem, so the layer can be streamed from the source files straight into its
//! blob. Creating thousands of files costs seconds on ext4; a tar stream does not.
//!
//! Copies the plan cannot express the way an overlay diff would (replacing a directory,
//! writing through a symlink the same step made, unpacking an archive) end in
//! [`CopyError::NeedsTree`]; the caller then copies through a directory.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Component, Path, PathBuf};

use kiln_cache::layer::entry::entry_from_fs;
use kiln_cache::layer::{Entry as LayerEntry, EntryKind as LayerKind};
use kiln_executor::securejoin::resolve_in_root;

use super::copy::{CopyError, Dest, Ids};
use crate::context::select::Entry;
use crate::context::EntryKind;

#[derive(Debug, Clone)]
enum Planned {
    Dir,
    File {
        from: PathBuf,
        size: u64,
        /// (copy action, dev, ino): hardlinks are kept within one action.
        inode: (u32, u64, u64),
    },
    Symlink(PathBuf),
}

#[derive(Debug, Clone)]
struct Item {
    what: Planned,
    mode: u32,
    ids: Ids,
    mtime: i64,
}

/// Plans a layer over the base filesystem mounted (read-only) at `base`.
pub struct LayerDest<'a> {
    base: &'a Path,
    planned: BTreeMap<PathBuf, Item>,
    /// Time stamp of directories the copy creates (as `mkdir` would give them).
    now: i64,
    action: u32,
}

fn needs_tree(why: impl Into<String>) -> CopyError {
    CopyError::NeedsTree(why.into())
}

/// `rel` and its ancestors, shortest first (`a`, `a/b`, `a/b/c`).
fn prefixes(rel: &Path) -> impl Iterator<Item = PathBuf> + '_ {
    let mut cur = PathBuf::new();
    rel.components().filter_map(move |c| match c {
        Component::Normal(n) => {
            cur.push(n);
            Some(cur.clone())
        }
        _ => None,
    })
}

impl<'a> LayerDest<'a> {
    pub fn new(base: &'a Path) -> LayerDest<'a> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        LayerDest {
            base,
            planned: BTreeMap::new(),
            now,
            action: 0,
        }
    }

    fn through_planned_symlink(&self, rel: &Path) -> bool {
        prefixes(rel).any(|p| {
            matches!(
                self.planned.get(&p),
                Some(Item {
                    what: Planned::Symlink(_),
                    ..
                })
            )
        })
    }

    fn base_meta(&self, rel: &Path) -> Option<fs::Metadata> {
        fs::symlink_metadata(self.base.join(rel)).ok()
    }

    /// The layer's entries, parents before children: the planned ones, plus every base
    /// directory they sit in with its metadata unchanged (as an overlay copy-up records it,
    /// so the layer does not reset a parent's mode). Later copies of an inode already in the
    /// layer become hardlinks to its first path.
    pub fn finish(self) -> Result<Vec<LayerEntry>, CopyError> {
        let mut entries: BTreeMap<PathBuf, LayerEntry> = BTreeMap::new();
        for rel in self.planned.keys() {
            for anc in prefixes(rel.parent().unwrap_or(Path::new(""))) {
                if self.planned.contains_key(&anc) || entries.contains_key(&anc) {
                    continue;
                }
                let abs = self.base.join(&anc);
                let md = fs::symlink_metadata(&abs).map_err(|_| {
                    needs_tree(format!("parent {} is not in the base", anc.display()))
                })?;
                if !md.is_dir() {
                    return Err(needs_tree(format!(
                        "parent {} is not a directory",
                        anc.display()
                    )));
                }
                let e = entry_from_fs(&anc, &abs, &md).map_err(|source| CopyError::Io {
                    what: "read the base directory",
                    path: abs.clone(),
                    source,
                })?;
                entries.insert(anc, e);
            }
        }
        let mut first_of: HashMap<(u32, u64, u64), PathBuf> = HashMap::new();
        for (rel, item) in self.planned {
            let (uid, gid) = item.ids;
            let mut e = LayerEntry {
                path: rel.clone(),
                kind: LayerKind::File,
                mode: item.mode,
                uid: uid.into(),
                gid: gid.into(),
                mtime: item.mtime,
                size: 0,
                xattrs: Vec::new(),
                source: None,
            };
            match item.what {
                Planned::Dir => e.kind = LayerKind::Dir,
                Planned::Symlink(t) => e.kind = LayerKind::Symlink(t),
                Planned::File { from, size, inode } => match first_of.get(&inode) {
                    Some(first) => e.kind = LayerKind::Hardlink(first.clone()),
                    None => {
                        first_of.insert(inode, rel.clone());
                        e.size = size;
                        e.source = Some(from);
                    }
                },
            }
            entries.insert(rel, e);
        }
        Ok(entries.into_values().collect())
    }
}

impl Dest for LayerDest<'_> {
    fn begin_action(&mut self) {
        self.action += 1;
    }

    fn resolve(&self, path: &str) -> Result<PathBuf, CopyError> {
        // The base view does not show planned entries: a path resolved there that goes
        // through a planned symlink would be resolved wrongly.
        let rel = resolve_in_root(self.base, path)?;
        if self.through_planned_symlink(&rel) {
            return Err(needs_tree(format!(
                "{path} goes through a symlink this step writes"
            )));
        }
        Ok(rel)
    }

    fn is_dir(&self, rel: &Path) -> bool {
        match self.planned.get(rel) {
            Some(i) => matches!(i.what, Planned::Dir),
            None => self.base.join(rel).is_dir(),
        }
    }

    fn make_dir(&mut self, rel: &Path, owner: Option<Ids>) -> Result<(), CopyError> {
        if self.planned.contains_key(rel) || self.base_meta(rel).is_some() {
            return Err(needs_tree(format!(
                "a directory replaces {}",
                rel.display()
            )));
        }
        let item = Item {
            what: Planned::Dir,
            mode: 0o755,
            ids: owner.unwrap_or((0, 0)),
            mtime: self.now,
        };
        self.planned.insert(rel.to_path_buf(), item);
        Ok(())
    }

    fn put(
        &mut self,
        rel: &Path,
        e: &Entry,
        from: &Path,
        ids: Ids,
        mode: u32,
    ) -> Result<(), CopyError> {
        let planned = self
            .planned
            .get(rel)
            .map(|i| matches!(i.what, Planned::Dir));
        let base = self.base_meta(rel);
        let base_is_dir = base.as_ref().map(|m| m.is_dir());
        let what = match e.kind {
            EntryKind::Dir => {
                // An existing directory stays as it is; the copy merges into it.
                match (planned, base_is_dir) {
                    (Some(true), _) | (None, Some(true)) => return Ok(()),
                    (Some(false), _) | (None, Some(false)) => {
                        return Err(needs_tree(format!(
                            "a directory replaces {}",
                            rel.display()
                        )))
                    }
                    (None, None) => Planned::Dir,
                }
            }
            EntryKind::File | EntryKind::Symlink => {
                if planned == Some(true) || base_is_dir == Some(true) {
                    return Err(needs_tree(format!(
                        "a file replaces directory {}",
                        rel.display()
                    )));
                }
                if base.as_ref().is_some_and(|m| m.file_type().is_symlink()) {
                    return Err(needs_tree(format!(
                        "a file replaces symlink {}",
                        rel.display()
                    )));
                }
                if e.kind == EntryKind::File {
                    Planned::File {
                        from: from.to_path_buf(),
                        size: e.size,
                        inode: (self.action, e.stamp.dev, e.stamp.ino),
                    }
                } else {
                    Planned::Symlink(PathBuf::from(e.link_target.clone().unwrap_or_default()))
                }
            }
            EntryKind::Other => return Ok(()),
        };
        let item = Item {
            what,
            mode,
            ids,
            mtime: e.stamp.mtime_ns.div_euclid(1_000_000_000),
        };
        self.planned.insert(rel.to_path_buf(), item);
        Ok(())
    }

    fn extract(&mut self, archive: &Path, _dir: &Path) -> Result<(), CopyError> {
        Err(needs_tree(format!(
            "ADD unpacks the archive {}",
            archive.display()
        )))
    }
}
