//! Named network namespaces for containers: an nsfs bind mount on a file, made before the
//! container starts (so its veth is in place when its process execs) and kept across
//! restarts by the restart policy, removed when the container stops for good.

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("creating the network namespace file {path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("creating a network namespace for {path}: {source}")]
    Unshare {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("bind mounting the new network namespace on {path}: {source}")]
    Mount {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("unmounting the network namespace {path}: {source}")]
    Unmount {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("the thread creating the network namespace {0} panicked")]
    Thread(PathBuf),
}

/// Where container `id`'s namespace file lives.
pub fn path(store_root: &Path, id: &str) -> PathBuf {
    store_root.join("network").join("netns").join(id)
}

/// Whether `path` is a mounted nsfs file (a live namespace), not a leftover plain file.
pub fn is_mounted(path: &Path) -> bool {
    nix::sys::statfs::statfs(path).is_ok_and(|s| s.filesystem_type().0 == NSFS_MAGIC)
}

const NSFS_MAGIC: libc::c_long = 0x6e73_6673;

/// Creates a fresh network namespace (only `lo`, which the attach brings up) and pins it
/// on `path`.
pub fn create(path: &Path) -> Result<(), NetnsError> {
    let file_err = |source| NetnsError::File {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(file_err)?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(file_err)?;
    let target = path.to_path_buf();
    // unshare(CLONE_NEWNET) changes only the calling thread: a short-lived thread keeps
    // the caller (possibly running tokio) in its own namespace.
    let made = std::thread::spawn(move || -> Result<(), NetnsError> {
        unshare(CloneFlags::CLONE_NEWNET).map_err(|source| NetnsError::Unshare {
            path: target.clone(),
            source,
        })?;
        mount(
            Some("/proc/thread-self/ns/net"),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|source| NetnsError::Mount {
            path: target.clone(),
            source,
        })
    })
    .join()
    .map_err(|_| NetnsError::Thread(path.to_path_buf()))?;
    if made.is_err() {
        let _ = std::fs::remove_file(path);
    }
    made
}

/// Unmounts and deletes `path`; nothing to do when it does not exist (never created, or
/// already removed), and a plain file left by a reboot is just deleted.
pub fn remove(path: &Path) -> Result<(), NetnsError> {
    if !path.exists() {
        return Ok(());
    }
    if is_mounted(path) {
        match umount2(path, MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
            Err(source) => {
                return Err(NetnsError::Unmount {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(NetnsError::File {
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unmounts what a failed assertion would leave.
    struct Guard(PathBuf);
    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = remove(&self.0);
        }
    }

    #[test]
    fn pins_a_fresh_namespace_and_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = path(dir.path(), "c1");
        let _g = Guard(p.clone());
        create(&p).unwrap();
        assert!(is_mounted(&p));
        let mine = std::fs::metadata("/proc/self/ns/net").unwrap();
        let pinned = std::fs::metadata(&p).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_ne!(
            mine.ino(),
            pinned.ino(),
            "the caller's namespace was pinned"
        );
        remove(&p).unwrap();
        assert!(!p.exists());
        // A plain file (what a reboot leaves) is just deleted; a missing one is fine.
        std::fs::write(&p, b"").unwrap();
        assert!(!is_mounted(&p));
        remove(&p).unwrap();
        remove(&p).unwrap();
    }
}
