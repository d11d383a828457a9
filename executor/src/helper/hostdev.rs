//! Host device nodes in the container's `/dev`: the ones `--device` names (at the path
//! asked for, with the host node's type, numbers and mode) and, for a privileged container,
//! every device the host has.

use super::mounts::{resolve_dest, Created};
use super::{Context, SetupError};
use crate::spec::Device;
use nix::sys::stat::{mknod, Mode, SFlag};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// Host `/dev` subdirectories a privileged container does not copy: they are the
/// container's own mounts (or links to /proc).
const SKIP: &[&str] = &["pts", "shm", "mqueue", "fd", "core"];

/// Creates `dev.container_path` below `root` as a copy of the host node.
pub(super) fn add(root: &Path, dev: &Device, created: &mut Created) -> Result<(), SetupError> {
    let meta = std::fs::metadata(&dev.host_path).ctx(|| {
        format!(
            "--device {}: the host has no such device",
            dev.host_path.display()
        )
    })?;
    let kind = if meta.file_type().is_char_device() {
        SFlag::S_IFCHR
    } else if meta.file_type().is_block_device() {
        SFlag::S_IFBLK
    } else {
        return Err(SetupError::Invalid(format!(
            "--device {}: not a character or block device",
            dev.host_path.display()
        )));
    };
    let rel = resolve_dest(root, &dev.container_path)?;
    if let Some(parent) = rel.parent() {
        created.ensure_dir(root, parent)?;
    }
    let target = root.join(&rel);
    if std::fs::symlink_metadata(&target).is_ok() {
        // Replaces a standard node of the same name (`--device /dev/null:/dev/zero`).
        std::fs::remove_file(&target)
            .ctx(|| format!("replacing {} with the host device", dev.container_path))?;
    } else {
        created
            .0
            .push(Path::new("/").join(&rel).to_string_lossy().into_owned());
    }
    mknod(
        &target,
        kind,
        Mode::from_bits_truncate(meta.mode() & 0o7777),
        meta.rdev(),
    )
    .ctx(|| format!("mknod {} for --device", dev.container_path))?;
    // The host node's owner, so group-restricted devices keep working as on the host.
    std::os::unix::fs::lchown(&target, Some(meta.uid()), Some(meta.gid()))
        .ctx(|| format!("chown {}", dev.container_path))
}

/// Copies every character and block device below the host's `/dev` into `dev` (the
/// container's, not yet pivoted into), keeping existing nodes.
pub(super) fn add_all(dev: &Path) -> Result<(), SetupError> {
    copy_dir(Path::new("/dev"), dev, 0)
}

fn copy_dir(host: &Path, ours: &Path, depth: usize) -> Result<(), SetupError> {
    // /dev is shallow; the bound guards against surprises such as bind-mount loops.
    if depth > 4 {
        return Ok(());
    }
    let entries = std::fs::read_dir(host).ctx(|| format!("listing {}", host.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if depth == 0 && SKIP.iter().any(|s| name == *s) {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
            continue;
        };
        let target = ours.join(&name);
        let ft = meta.file_type();
        if ft.is_dir() {
            if std::fs::symlink_metadata(&target).is_err() {
                std::fs::create_dir(&target).ctx(|| format!("mkdir {}", target.display()))?;
            }
            copy_dir(&entry.path(), &target, depth + 1)?;
            continue;
        }
        let kind = if ft.is_char_device() {
            SFlag::S_IFCHR
        } else if ft.is_block_device() {
            SFlag::S_IFBLK
        } else {
            continue;
        };
        if std::fs::symlink_metadata(&target).is_ok() {
            continue;
        }
        mknod(
            &target,
            kind,
            Mode::from_bits_truncate(meta.mode() & 0o7777),
            meta.rdev(),
        )
        .ctx(|| format!("mknod {} (privileged)", target.display()))?;
        let _ = std::os::unix::fs::lchown(&target, Some(meta.uid()), Some(meta.gid()));
    }
    Ok(())
}
