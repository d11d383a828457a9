//! Overlay mounts the worker makes in its own mount namespace: a writable root for file
//! operations (lower = the input chain, upper = the new layer) and read-only views of a
//! chain (the files `COPY --from` reads, bind-mount sources). Each mount is a guard that
//! unmounts on drop, so an error or a panic leaves no mount behind.

use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use super::step_dir::{step_dir, StepDir};

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("creating a build directory under {dir}: {source}")]
    TempDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("mounting overlayfs at {target} (lowerdir={lower}): {source}; kiln needs root and a kernel with overlayfs")]
    Mount {
        target: PathBuf,
        lower: String,
        #[source]
        source: nix::Error,
    },
    #[error("overlay lower dir {0} contains ':' or ',' and cannot be named in mount options")]
    BadPath(PathBuf),
}

/// A mounted overlay; unmounted (lazily, so a stray open file cannot keep it) on drop.
#[derive(Debug)]
pub struct OverlayMount {
    target: PathBuf,
}

impl OverlayMount {
    /// Mount `lower` (BOTTOM first) at `target`, writable into `upper` when given (with its
    /// `work` dir), read-only otherwise.
    pub fn mount(
        lower: &[PathBuf],
        upper: Option<(&Path, &Path)>,
        target: &Path,
    ) -> Result<OverlayMount, MountError> {
        for p in lower {
            if p.to_string_lossy().contains([':', ',']) {
                return Err(MountError::BadPath(p.clone()));
            }
        }
        // overlayfs wants the top layer first.
        let lowerdir = lower
            .iter()
            .rev()
            .map(|p| p.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(":");
        let mut data = format!("lowerdir={lowerdir}");
        if let Some((up, work)) = upper {
            data.push_str(&format!(
                ",upperdir={},workdir={}",
                up.display(),
                work.display()
            ));
        }
        let flags = if upper.is_some() {
            MsFlags::empty()
        } else {
            MsFlags::MS_RDONLY
        };
        mount(
            Some("overlay"),
            target,
            Some("overlay"),
            flags,
            Some(data.as_str()),
        )
        .map_err(|source| MountError::Mount {
            target: target.to_path_buf(),
            lower: lowerdir,
            source,
        })?;
        Ok(OverlayMount {
            target: target.to_path_buf(),
        })
    }
}

impl Drop for OverlayMount {
    fn drop(&mut self) {
        if let Err(e) = umount2(&self.target, MntFlags::MNT_DETACH) {
            tracing::warn!("unmounting {}: {e}", self.target.display());
        }
    }
}

/// A read-only view of a chain's merged filesystem, in its own temp dir. An empty chain is
/// an empty directory; one layer is its snapshot directory used directly.
#[derive(Debug)]
pub struct View {
    // Field order matters: unmount before the directory is removed.
    _mount: Option<OverlayMount>,
    root: PathBuf,
    _dir: StepDir,
}

impl View {
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `lower` is BOTTOM first.
    pub fn new(store_root: &Path, lower: &[PathBuf]) -> Result<View, MountError> {
        let dir = step_dir(store_root)?;
        let empty = dir.path().join("empty");
        let merged = dir.path().join("merged");
        for d in [&empty, &merged] {
            std::fs::create_dir(d).map_err(|source| MountError::TempDir {
                dir: d.clone(),
                source,
            })?;
        }
        if lower.is_empty() {
            return Ok(View {
                _mount: None,
                root: empty,
                _dir: dir,
            });
        }
        // A read-only overlay needs two lower dirs; the empty one at the bottom changes
        // nothing and also hides the overlay whiteout devices a single layer dir holds.
        let mut dirs = vec![empty];
        dirs.extend(lower.iter().cloned());
        let m = OverlayMount::mount(&dirs, None, &merged)?;
        Ok(View {
            _mount: Some(m),
            root: merged,
            _dir: dir,
        })
    }
}
