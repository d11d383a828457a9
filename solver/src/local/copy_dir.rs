//! The copy destination that writes files: a directory (an overlay's merged root whose
//! upper dir becomes the layer, or any plain directory in tests). Used where the layer
//! planner of `copy_layer` cannot express a copy.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::AtFlags;
use nix::sys::stat::{utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchownat, Gid, Uid};

use kiln_executor::securejoin::resolve_in_root;

use super::copy::{io, CopyError, Dest, Ids};
use crate::context::select::Entry;
use crate::context::EntryKind;

/// A directory destination. Files that are hardlinks of each other in the source stay
/// hardlinks in the copy.
pub struct DirDest<'a> {
    root: &'a Path,
    /// First copy of each source inode (dev, ino), for hardlinks.
    links: HashMap<(u64, u64), PathBuf>,
}

impl<'a> DirDest<'a> {
    pub fn new(root: &'a Path) -> DirDest<'a> {
        DirDest {
            root,
            links: HashMap::new(),
        }
    }
}

impl Dest for DirDest<'_> {
    fn begin_action(&mut self) {
        self.links.clear();
    }

    fn resolve(&self, path: &str) -> Result<PathBuf, CopyError> {
        Ok(resolve_in_root(self.root, path)?)
    }

    fn is_dir(&self, rel: &Path) -> bool {
        self.root.join(rel).is_dir()
    }

    fn make_dir(&mut self, rel: &Path, owner: Option<Ids>) -> Result<(), CopyError> {
        let full = self.root.join(rel);
        if fs::symlink_metadata(&full).is_ok() {
            fs::remove_file(&full).map_err(io("replace", &full))?;
        }
        fs::create_dir(&full).map_err(io("create directory", &full))?;
        fs::set_permissions(&full, fs::Permissions::from_mode(0o755))
            .map_err(io("chmod", &full))?;
        if let Some((u, g)) = owner {
            chown(&full, u, g)?;
        }
        Ok(())
    }

    fn put(
        &mut self,
        rel: &Path,
        e: &Entry,
        from: &Path,
        (uid, gid): Ids,
        mode: u32,
    ) -> Result<(), CopyError> {
        let full = self.root.join(rel);
        let existing = fs::symlink_metadata(&full).ok();
        // A path about to be replaced can no longer be a link target.
        self.links.retain(|_, first| *first != full);
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
                let inode = (e.stamp.dev, e.stamp.ino);
                if let Some(first) = self.links.get(&inode) {
                    // Owner, mode and times are the inode's, set on its first copy.
                    return fs::hard_link(first, &full).map_err(io("create hardlink", &full));
                }
                fs::copy(from, &full).map_err(io("copy file to", &full))?;
                self.links.insert(inode, full.clone());
            }
            EntryKind::Symlink => {
                remove_existing(&full, existing.as_ref())?;
                let target = e.link_target.clone().unwrap_or_default();
                symlink(&target, &full).map_err(io("create symlink", &full))?;
            }
            EntryKind::Other => return Ok(()),
        }
        chown(&full, uid, gid)?;
        if e.kind != EntryKind::Symlink {
            fs::set_permissions(&full, fs::Permissions::from_mode(mode))
                .map_err(io("chmod", &full))?;
        }
        let secs = e.stamp.mtime_ns.div_euclid(1_000_000_000);
        let nanos = e.stamp.mtime_ns.rem_euclid(1_000_000_000);
        let t = TimeSpec::new(secs, nanos);
        utimensat(None, &full, &t, &t, UtimensatFlags::NoFollowSymlink).map_err(|source| {
            CopyError::Meta {
                path: full.clone(),
                source,
            }
        })
    }

    fn extract(&mut self, archive: &Path, dir: &Path) -> Result<(), CopyError> {
        super::unpack::extract(archive, &self.root.join(dir))
    }
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

fn remove_existing(full: &Path, existing: Option<&fs::Metadata>) -> Result<(), CopyError> {
    match existing {
        None => Ok(()),
        Some(m) if m.is_dir() => fs::remove_dir_all(full).map_err(io("replace directory", full)),
        Some(_) => fs::remove_file(full).map_err(io("replace", full)),
    }
}
