//! Mount helpers shared by the rootfs steps: mountpoint creation inside the rootfs (with the
//! created paths recorded so the caller can drop them from the upper dir) and bind/tmpfs
//! mounts at destinations resolved safely inside the rootfs.

use super::{Context, SetupError};
use crate::securejoin::resolve_in_root;
use crate::spec::{Mount, MountKind};
use nix::mount::{mount, MsFlags};
use std::path::{Path, PathBuf};

/// Container paths of the mountpoints this run created (files and directories).
#[derive(Debug, Default)]
pub(super) struct Created(pub Vec<String>);

impl Created {
    /// Makes every missing directory of `rel` (relative to `root`).
    pub fn ensure_dir(&mut self, root: &Path, rel: &Path) -> Result<PathBuf, SetupError> {
        let mut at = root.to_path_buf();
        let mut container = PathBuf::from("/");
        for part in rel.components() {
            at.push(part);
            container.push(part);
            if std::fs::symlink_metadata(&at).is_err() {
                std::fs::create_dir(&at).ctx(|| format!("creating mountpoint {}", at.display()))?;
                nix::sys::stat::fchmodat(
                    None,
                    &at,
                    nix::sys::stat::Mode::from_bits_truncate(0o755),
                    nix::sys::stat::FchmodatFlags::NoFollowSymlink,
                )
                .ctx(|| format!("chmod {}", at.display()))?;
                self.0.push(container.to_string_lossy().into_owned());
            }
        }
        Ok(at)
    }

    /// Makes `rel` an (empty) file, creating its parents.
    pub fn ensure_file(&mut self, root: &Path, rel: &Path) -> Result<PathBuf, SetupError> {
        if let Some(parent) = rel.parent() {
            self.ensure_dir(root, parent)?;
        }
        let at = root.join(rel);
        if std::fs::symlink_metadata(&at).is_err() {
            std::fs::File::create(&at).ctx(|| format!("creating mountpoint {}", at.display()))?;
            self.0
                .push(Path::new("/").join(rel).to_string_lossy().into_owned());
        }
        Ok(at)
    }
}

/// Resolves `dest` inside `root`, refusing `/` itself (the rootfs is not a mount target).
pub(super) fn resolve_dest(root: &Path, dest: &str) -> Result<PathBuf, SetupError> {
    if !dest.starts_with('/') {
        return Err(SetupError::Invalid(format!(
            "mount destination {dest:?} must be an absolute path"
        )));
    }
    let rel = resolve_in_root(root, dest).map_err(|e| SetupError::Invalid(e.to_string()))?;
    if rel.as_os_str().is_empty() {
        return Err(SetupError::Invalid(format!(
            "mount destination {dest:?} is the container's root; mount below it"
        )));
    }
    Ok(rel)
}

/// Applies one caller mount below `root` (before pivot_root).
pub(super) fn apply(root: &Path, m: &Mount, created: &mut Created) -> Result<(), SetupError> {
    let rel = resolve_dest(root, &m.destination)?;
    match &m.kind {
        MountKind::Bind { source } => {
            let meta = std::fs::metadata(source).ctx(|| {
                format!(
                    "bind mount source {} for {}",
                    source.display(),
                    m.destination
                )
            })?;
            let target = if meta.is_dir() {
                created.ensure_dir(root, &rel)?
            } else {
                created.ensure_file(root, &rel)?
            };
            bind(source, &target, m.readonly)
        }
        MountKind::Tmpfs { size } => {
            let target = created.ensure_dir(root, &rel)?;
            let mut data = String::from("mode=1777");
            if let Some(size) = size {
                data.push_str(&format!(",size={size}"));
            }
            let mut flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
            if m.readonly {
                flags |= MsFlags::MS_RDONLY;
            }
            mount(
                Some("tmpfs"),
                &target,
                Some("tmpfs"),
                flags,
                Some(data.as_str()),
            )
            .ctx(|| format!("mounting tmpfs on {}", m.destination))
        }
    }
}

/// Bind `source` on `target`, read-only when asked (a second remount: the kernel ignores
/// MS_RDONLY on the initial bind).
pub(super) fn bind(source: &Path, target: &Path, readonly: bool) -> Result<(), SetupError> {
    mount(
        Some(source),
        target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx(|| format!("bind mounting {} on {}", source.display(), target.display()))?;
    if readonly {
        remount_readonly(target)?;
    }
    Ok(())
}

pub(super) fn remount_readonly(target: &Path) -> Result<(), SetupError> {
    mount(
        None::<&str>,
        target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
        None::<&str>,
    )
    .ctx(|| format!("remounting {} read-only", target.display()))
}
