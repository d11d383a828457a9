//! What a caller killed outright leaves behind. A container's state directory holds a
//! `lock` file its caller keeps locked while the container is in its hands (see
//! `state.rs`); the orphaned native helper cleans up after a dead caller, but a caller
//! killed between making the container's cgroups and starting the helper (or a killed
//! helper) leaves the `kiln-<id>` cgroups and the state directory. [`reclaim`] finds state
//! directories whose lock is free, kills anything left in their cgroups, removes the
//! cgroups wherever they sit in each hierarchy, detaches mounts under the directory and
//! removes it. Called when an executor is made, so the next build or run tidies up.

use crate::cgroups::Cgroups;
use nix::fcntl::{Flock, FlockArg};
use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The lock file inside a container's state directory.
pub const LOCK: &str = "lock";

/// Creates `dir/lock` already locked by this process, for as long as the returned value
/// lives (see [`take_lock_at`]).
pub fn take_lock(dir: &Path) -> std::io::Result<Flock<File>> {
    take_lock_at(&dir.join(LOCK))
}

/// Creates the lock file `path` already locked by this process. The file is locked under
/// a hidden name beside it (`.NAME.new`) and then renamed into place, so a reclaimer never
/// finds an unlocked lock of a live owner (and never holds it when the owner takes it).
pub fn take_lock_at(path: &Path) -> std::io::Result<Flock<File>> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.new"));
    let file = File::create(&tmp)?;
    let lock = Flock::lock(file, FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| std::io::Error::from(e))?;
    std::fs::rename(&tmp, path)?;
    Ok(lock)
}

/// Grace for a state directory without a lock file: it may be between its creation and
/// its lock (or made by a kiln from before locks).
const UNLOCKED_GRACE: Duration = Duration::from_secs(60);

/// The directories under `root` (those whose name `wanted` accepts) whose owner is gone:
/// their `lock` is free — returned held, so two reclaimers never work on one — or they
/// have none and are older than the grace.
pub fn abandoned_dirs(
    root: &Path,
    wanted: impl Fn(&str) -> bool,
) -> Vec<(PathBuf, Option<Flock<File>>)> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut stale = Vec::new();
    for e in entries.flatten() {
        if !e.file_type().is_ok_and(|t| t.is_dir()) || !wanted(&e.file_name().to_string_lossy()) {
            continue;
        }
        let dir = e.path();
        match File::open(dir.join(LOCK)) {
            Ok(f) => {
                if let Ok(held) = Flock::lock(f, FlockArg::LockExclusiveNonblock) {
                    stale.push((dir, Some(held)));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && older_than_grace(&dir) => {
                stale.push((dir, None));
            }
            Err(_) => {}
        }
    }
    stale
}

/// Removes the leftovers of containers whose caller is gone, under `state_root`. Logged,
/// never fatal: what cannot go now is retried by the next executor.
pub fn reclaim(state_root: &Path) {
    let stale = abandoned_dirs(state_root, |_| true);
    if stale.is_empty() {
        return;
    }
    let names: HashSet<String> = stale
        .iter()
        .filter_map(|(d, _)| d.file_name())
        .map(|id| format!("kiln-{}", id.to_string_lossy()))
        .collect();
    let cgroups = find_cgroups(&names);
    for (dir, _held) in stale {
        let id = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        tracing::info!(id, "reclaiming a container whose caller is gone");
        let name = format!("kiln-{id}");
        let dirs: Vec<PathBuf> = cgroups
            .iter()
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy() == name))
            .cloned()
            .collect();
        if !dirs.is_empty() {
            let mut cg = Cgroups::adopt(dirs);
            if let Err(e) = cg.remove() {
                tracing::warn!(id, "removing a dead container's cgroups: {e}");
                continue;
            }
        }
        remove_tree(&dir);
    }
}

/// Whether `p` was last modified longer ago than the grace for unlocked leftovers.
pub fn older_than_grace(p: &Path) -> bool {
    std::fs::metadata(p)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age > UNLOCKED_GRACE)
}

/// Every directory named in `names` in any mounted cgroup hierarchy (a container's cgroup
/// sits below its caller's own cgroup, which may differ from this process's).
fn find_cgroups(names: &HashSet<String>) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let fstype = right.split(' ').next()?;
            (fstype == "cgroup" || fstype == "cgroup2")
                .then(|| left.split(' ').nth(4).map(PathBuf::from))
                .flatten()
        })
        .collect();
    roots.sort();
    roots.dedup();
    let mut found = Vec::new();
    for root in roots {
        let mut stack = vec![root];
        while let Some(dir) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in rd.flatten() {
                if !e.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                if names.contains(e.file_name().to_string_lossy().as_ref()) {
                    found.push(e.path());
                } else {
                    stack.push(e.path());
                }
            }
        }
    }
    found
}

/// Detaches mounts under `dir` (an OCI bundle's rootfs, a step's secrets tmpfs), then
/// removes it; a directory that still has a mount inside is left alone rather than deleted
/// through it.
pub fn remove_tree(dir: &Path) {
    if !crate::mountinfo::unmount_under(dir) {
        tracing::warn!(
            "leaving {}: something is still mounted inside",
            dir.display()
        );
        return;
    }
    if let Err(e) = std::fs::remove_dir_all(dir) {
        tracing::warn!("removing {}: {e}", dir.display());
    }
}
