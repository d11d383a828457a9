//! A container's filesystem as the host can reach it: the live root of a running
//! container (`/proc/<init>/root`, volumes included, as Docker's `cp` sees it), or a
//! temporary overlay mount of its layers (read-only, or writable when it is stopped),
//! unmounted and removed when the guard drops.

use crate::config::ContainerPaths;
use crate::monitor::lowerdirs;
use crate::record::ContainerRecord;
use kiln_cache::Store;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error(transparent)]
    Image(#[from] crate::monitor::MonitorError),
    #[error("preparing {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("mounting the filesystem of container {id} on {target}: {source} (overlay options: {options} bytes)")]
    Mount {
        id: String,
        target: PathBuf,
        options: usize,
        #[source]
        source: nix::Error,
    },
}

/// A mounted view; unmounts on drop.
pub struct RootfsView {
    path: PathBuf,
    mounted: bool,
}

impl RootfsView {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The live root of the running container whose init is `pid`: nothing to unmount.
    pub fn live(pid: i32) -> RootfsView {
        RootfsView {
            path: PathBuf::from(format!("/proc/{pid}/root")),
            mounted: false,
        }
    }

    /// A temporary overlay mount of the container's filesystem (see [`ViewMode`]).
    pub fn mount(
        store: &Store,
        rec: &ContainerRecord,
        mode: ViewMode,
    ) -> Result<RootfsView, RootfsError> {
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let paths = ContainerPaths::new(store.root(), &rec.id);
        let mut lower = lowerdirs(store, rec)?;
        lower.reverse(); // overlayfs lists the top layer first
                         // A read-only overlay needs two lower dirs; the empty one changes nothing.
        lower.push(paths.empty());
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let target = paths.dir.join(format!("view-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&target).map_err(|source| RootfsError::Io {
            path: target.clone(),
            source,
        })?;
        let list = |dirs: &[PathBuf]| {
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(":")
        };
        let (options, flags) = match mode {
            ViewMode::Writable => (
                format!(
                    "lowerdir={},upperdir={},workdir={}",
                    list(&lower),
                    paths.upper().display(),
                    paths.work().display()
                ),
                MsFlags::empty(),
            ),
            ViewMode::ReadOnly => {
                // The upper dir as the top lower dir: overlayfs locks an upper dir in use,
                // not a lower one, so this works while the container runs.
                let mut all = vec![paths.upper()];
                all.extend(lower);
                (format!("lowerdir={}", list(&all)), MsFlags::MS_RDONLY)
            }
            ViewMode::ImageOnly => (format!("lowerdir={}", list(&lower)), MsFlags::MS_RDONLY),
        };
        let mut view = RootfsView {
            path: target.clone(),
            mounted: false,
        };
        let result = mount(
            Some("overlay"),
            &target,
            Some("overlay"),
            flags,
            Some(options.as_str()),
        );
        if let Err(source) = result {
            let _ = std::fs::remove_dir(&target);
            return Err(RootfsError::Mount {
                id: rec.id.clone(),
                target,
                options: options.len(),
                source,
            });
        }
        view.mounted = true;
        Ok(view)
    }
}

/// Which view of a container's filesystem to mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewMode {
    /// Image plus the container's changes, read-only (safe while it runs).
    ReadOnly,
    /// Image plus changes, writes go to the container's upper dir (stopped containers only).
    Writable,
    /// The image's layers alone.
    ImageOnly,
}

impl Drop for RootfsView {
    fn drop(&mut self) {
        if !self.mounted {
            return;
        }
        if let Err(e) = umount2(&self.path, MntFlags::MNT_DETACH) {
            tracing::warn!("unmounting {}: {e}", self.path.display());
            return;
        }
        if let Err(e) = std::fs::remove_dir(&self.path) {
            tracing::warn!("removing {}: {e}", self.path.display());
        }
    }
}
