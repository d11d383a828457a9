//! Per-step working directories under `<root>/build-tmp` (overlay upper/work dirs, mount
//! points of RUN mounts, secret tmpfs, checkouts) and the reclaim of those a killed build
//! left: each directory holds a `lock` file locked for its whole life, so a directory whose
//! lock is free belongs to a process that is gone. Its mounts (bind/overlay views, secrets
//! tmpfs — the build's own mounts live in the host's namespace) are detached, then the
//! directory is removed.

use std::fs::File;
use std::path::Path;

use kiln_executor::reclaim::{abandoned_dirs, remove_tree, LOCK};
use nix::fcntl::Flock;
use tempfile::TempDir;

use super::mount::MountError;

/// One step's directory; removed (then unlocked) on drop.
#[derive(Debug)]
pub struct StepDir {
    // Field order matters: the directory goes before its lock is released.
    dir: TempDir,
    _lock: Flock<File>,
}

impl StepDir {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

fn tmp_err(dir: &Path) -> impl FnOnce(std::io::Error) -> MountError + '_ {
    move |source| MountError::TempDir {
        dir: dir.to_path_buf(),
        source,
    }
}

/// A new directory for one step, on the store's filesystem (overlay upper and work dirs
/// must share a filesystem, and layer sources are read from it).
pub fn step_dir(store_root: &Path) -> Result<StepDir, MountError> {
    let parent = store_root.join("build-tmp");
    std::fs::create_dir_all(&parent).map_err(tmp_err(&parent))?;
    let dir = tempfile::Builder::new()
        .prefix("step-")
        .tempdir_in(&parent)
        .map_err(tmp_err(&parent))?;
    let lock =
        kiln_executor::reclaim::take_lock(dir.path()).map_err(|source| MountError::TempDir {
            dir: dir.path().join(LOCK),
            source,
        })?;
    Ok(StepDir { dir, _lock: lock })
}

/// Removes the step directories of builds that are gone: those whose lock file nobody
/// holds, and those without one that are over the grace (made by a process killed before
/// it could lock, or by an older kiln), with any mount left inside. Failures are logged,
/// never fatal: a leftover is retried by the next build.
pub fn reclaim(store_root: &Path) {
    let parent = store_root.join("build-tmp");
    for (dir, _held) in abandoned_dirs(&parent, |n| n.starts_with("step-")) {
        tracing::info!(dir = %dir.display(), "removing the step directory of a build that is gone");
        remove_tree(&dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_executor::mountinfo::mount_points;
    use nix::mount::{mount, umount2, MntFlags, MsFlags};
    use std::path::PathBuf;

    /// Unmounts what a failed assertion would leave.
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = umount2(self.0.as_path(), MntFlags::MNT_DETACH);
        }
    }

    #[test]
    fn a_dead_builds_directory_is_unmounted_and_removed_a_live_one_kept() {
        let root = tempfile::tempdir().unwrap();
        let live = step_dir(root.path()).unwrap();
        // A killed build's directory: its lock file exists but nobody holds it, and a
        // tmpfs (like a step's secrets) is still mounted in it.
        let dead = step_dir(root.path()).unwrap();
        let dead_path = dead.path().to_path_buf();
        let mnt = dead_path.join("secrets");
        std::fs::create_dir(&mnt).unwrap();
        mount(
            Some("tmpfs"),
            &mnt,
            Some("tmpfs"),
            MsFlags::empty(),
            None::<&str>,
        )
        .unwrap();
        let _guard = Unmount(mnt.clone());
        std::fs::write(mnt.join("secret"), b"s3cr3t").unwrap();
        // Drop the lock without removing the directory: what SIGKILL does.
        let StepDir { dir, _lock } = dead;
        let kept = dir.keep();
        drop(_lock);
        assert_eq!(kept, dead_path);
        assert!(mount_points().contains(&mnt));

        reclaim(root.path());
        assert!(!dead_path.exists(), "the dead build's directory stayed");
        assert!(!mount_points().contains(&mnt), "its tmpfs stayed mounted");
        assert!(live.path().exists(), "a live build's directory was removed");
        reclaim(root.path());
        assert!(live.path().join(LOCK).exists());
    }
}
