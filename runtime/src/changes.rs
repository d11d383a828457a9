//! `diff`: what a container changed in its filesystem (Docker's A/C/D list), read from its
//! overlay upper directory and compared against the image's layers.

use crate::config::ContainerPaths;
use crate::record::ContainerRecord;
use crate::rootfs::{RootfsError, RootfsView, ViewMode};
use kiln_cache::layer::diff::{diff_overlay_upper, DiffError};
use kiln_cache::layer::EntryKind;
use kiln_cache::Store;

#[derive(Debug, thiserror::Error)]
pub enum ChangesError {
    #[error(transparent)]
    Diff(#[from] DiffError),
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Changed,
    Deleted,
}

impl ChangeKind {
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Added => 'A',
            ChangeKind::Changed => 'C',
            ChangeKind::Deleted => 'D',
        }
    }
}

/// Files the runtime itself places in every container; Docker leaves them out of `diff`.
const RUNTIME_FILES: &[&str] = &["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"];

/// The container's changes, sorted by path.
pub fn changes(
    store: &Store,
    rec: &ContainerRecord,
) -> Result<Vec<(ChangeKind, String)>, ChangesError> {
    let upper = ContainerPaths::new(store.root(), &rec.id).upper();
    let entries = diff_overlay_upper(&upper)?;
    // The image alone (no container changes), to tell added from changed.
    let image = RootfsView::mount(store, rec, ViewMode::ImageOnly)?;
    let mut out = Vec::new();
    for e in entries {
        let path = format!("/{}", e.path.display());
        let hidden = hidden_path(rec, &path);
        if hidden {
            continue;
        }
        let kind = match e.kind {
            EntryKind::Opaque => continue,
            EntryKind::Whiteout => ChangeKind::Deleted,
            _ if image.path().join(&e.path).symlink_metadata().is_ok() => ChangeKind::Changed,
            _ => ChangeKind::Added,
        };
        out.push((kind, path));
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

/// Paths the runtime put there (its /etc files, mount points of volumes and binds), which
/// are not the container's own changes.
pub(crate) fn hidden_path(rec: &ContainerRecord, path: &str) -> bool {
    RUNTIME_FILES.contains(&path)
        || rec
            .config
            .mounts
            .iter()
            .any(|m| m.destination.trim_end_matches('/') == path)
}
