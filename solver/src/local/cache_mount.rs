//! `RUN --mount=type=cache` directories. Each id has a directory under
//! `<store>/cache-mounts/` that outlives builds and is never part of a layer or a cache key.
//! Concurrent users coordinate through `flock` on a lock file beside each directory, so the
//! sharing modes hold across kiln processes (two CLI builds, the daemon):
//! - `shared`: a shared lock on instance 0; any number of steps use it at once.
//! - `locked`: an exclusive lock on instance 0; other users wait.
//! - `private`: the first instance (0, 1, 2, …) nobody holds, exclusively.
//!
//! A new directory gets the mount's uid/gid/mode and, with `from=`, the files of its source.
//!
//! API: [`acquire`], [`CacheMountLease`], [`prune`].

use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use kiln_frontend::graph::CacheSharing;
use nix::fcntl::{Flock, FlockArg};

/// Private instances tried before giving up (more concurrent private users than this is
/// not a real workload).
const MAX_PRIVATE_INSTANCES: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum CacheMountError {
    #[error("cache mount {id:?}: {what} {path}: {source}")]
    Io {
        id: String,
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cache mount {id:?}: locking {path}: {errno}")]
    Lock {
        id: String,
        path: PathBuf,
        errno: nix::errno::Errno,
    },
    #[error("cache mount {id:?}: all {MAX_PRIVATE_INSTANCES} private instances are in use; wait for other builds or use sharing=shared")]
    Exhausted { id: String },
}

/// A cache directory held for one step; the lock is released on drop.
#[derive(Debug)]
pub struct CacheMountLease {
    dir: PathBuf,
    _lock: Flock<File>,
}

impl CacheMountLease {
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// How a new cache directory starts out.
#[derive(Debug, Clone, Copy)]
pub struct CacheInit<'a> {
    pub uid: u32,
    pub gid: u32,
    pub mode: Option<u32>,
    /// Files copied in when the directory is created (`from=`, `source=`).
    pub seed: Option<&'a Path>,
}

fn root_dir(store_root: &Path) -> PathBuf {
    store_root.join("cache-mounts")
}

fn base_name(id: &str) -> String {
    kiln_cache::Digest::of_bytes(id.as_bytes())
        .hex()
        .to_string()
}

fn instance_name(base: &str, n: usize) -> String {
    if n == 0 {
        base.to_string()
    } else {
        format!("{base}-{n}")
    }
}

/// Take the cache directory of `id` for a step, waiting as `sharing` says. Blocking.
pub fn acquire(
    store_root: &Path,
    id: &str,
    sharing: CacheSharing,
    init: CacheInit<'_>,
) -> Result<CacheMountLease, CacheMountError> {
    let root = root_dir(store_root);
    let io = |what, path: &Path| io_err(id, what, path);
    std::fs::create_dir_all(&root).map_err(io("creating", &root))?;
    let base = base_name(id);
    // Remembered so `kiln prune` can say which id it removed.
    let id_file = root.join(format!("{base}.id"));
    if !id_file.exists() {
        std::fs::write(&id_file, id).map_err(io("writing", &id_file))?;
    }
    let instances: Vec<usize> = match sharing {
        CacheSharing::Private => (0..MAX_PRIVATE_INSTANCES).collect(),
        CacheSharing::Shared | CacheSharing::Locked => vec![0],
    };
    for n in instances {
        let name = instance_name(&base, n);
        let lock_path = root.join(format!("{name}.lock"));
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io("opening", &lock_path))?;
        let dir = root.join(&name);
        let ready = root.join(format!("{name}.ready"));
        let lock_err = |errno| CacheMountError::Lock {
            id: id.to_string(),
            path: lock_path.clone(),
            errno,
        };
        let lock = match sharing {
            CacheSharing::Private => match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(l) => l,
                Err((_, nix::errno::Errno::EWOULDBLOCK)) => continue,
                Err((_, errno)) => return Err(lock_err(errno)),
            },
            CacheSharing::Locked => {
                Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| lock_err(e))?
            }
            CacheSharing::Shared => {
                let l = Flock::lock(file, FlockArg::LockShared).map_err(|(_, e)| lock_err(e))?;
                if !ready.exists() {
                    // Set-up needs the directory alone; other shared users of a ready
                    // directory never get here, so this waits only for other set-ups.
                    l.relock(FlockArg::LockExclusive).map_err(lock_err)?;
                    if !ready.exists() {
                        init_dir(id, &dir, init)?;
                        File::create(&ready).map_err(io("creating", &ready))?;
                    }
                    l.relock(FlockArg::LockShared).map_err(lock_err)?;
                }
                l
            }
        };
        if !ready.exists() {
            init_dir(id, &dir, init)?;
            File::create(&ready).map_err(io("creating", &ready))?;
        }
        return Ok(CacheMountLease { dir, _lock: lock });
    }
    Err(CacheMountError::Exhausted { id: id.to_string() })
}

/// Wraps an I/O failure with the cache id, what was being done and the path.
fn io_err(
    id: &str,
    what: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> CacheMountError {
    let id = id.to_string();
    let path = path.to_path_buf();
    move |source| CacheMountError::Io {
        id,
        what,
        path,
        source,
    }
}

fn init_dir(id: &str, dir: &Path, init: CacheInit<'_>) -> Result<(), CacheMountError> {
    let io = |what, path: &Path| io_err(id, what, path);
    // A directory left by an interrupted set-up is started over.
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io("removing", dir))?;
    }
    std::fs::create_dir(dir).map_err(io("creating", dir))?;
    if let Some(seed) = init.seed {
        copy_tree(seed, dir).map_err(io("copying the from= files into", dir))?;
    }
    std::os::unix::fs::chown(dir, Some(init.uid), Some(init.gid)).map_err(io("chown", dir))?;
    let mode = init.mode.unwrap_or(0o755);
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
        .map_err(io("chmod", dir))?;
    Ok(())
}

/// `cp -a`'s job for a seed: files, directories and symlinks with modes and owners.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(from)?;
    if !meta.is_dir() {
        let name = from.file_name().unwrap_or(from.as_os_str());
        return copy_entry(from, &to.join(name), &meta);
    }
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        let dest = to.join(entry.file_name());
        if meta.is_dir() {
            std::fs::create_dir(&dest)?;
            copy_tree(&entry.path(), &dest)?;
            set_owner_mode(&dest, &meta)?;
        } else {
            copy_entry(&entry.path(), &dest, &meta)?;
        }
    }
    Ok(())
}

fn copy_entry(from: &Path, to: &Path, meta: &std::fs::Metadata) -> std::io::Result<()> {
    if meta.file_type().is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(from)?, to)?;
        return Ok(());
    }
    if !meta.is_file() {
        // Devices and sockets have no place in a cache seed.
        return Ok(());
    }
    std::fs::copy(from, to)?;
    set_owner_mode(to, meta)
}

fn set_owner_mode(path: &Path, meta: &std::fs::Metadata) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    std::os::unix::fs::chown(path, Some(meta.uid()), Some(meta.gid()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
}

/// One removed cache directory: its id (when known) and the bytes it held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrunedCacheMount {
    pub id: String,
    pub bytes: u64,
}

/// Remove every cache directory no running step holds. Directories in use stay.
pub fn prune(store_root: &Path) -> std::io::Result<Vec<PrunedCacheMount>> {
    let root = root_dir(store_root);
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(&root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(instance) = name.strip_suffix(".lock") else {
            continue;
        };
        let file = File::options().write(true).open(entry.path())?;
        let Ok(_lock) = Flock::lock(file, FlockArg::LockExclusiveNonblock) else {
            tracing::info!("cache mount {instance} is in use; kept");
            continue;
        };
        let dir = root.join(instance);
        let base = instance.split('-').next().unwrap_or(instance);
        let id = std::fs::read_to_string(root.join(format!("{base}.id")))
            .unwrap_or_else(|_| instance.to_string());
        let bytes = if dir.exists() { du(&dir) } else { 0 };
        // The ready marker goes first: an interrupted prune leaves a directory the next
        // user re-initialises, never a half-emptied one taken as ready.
        let _ = std::fs::remove_file(root.join(format!("{instance}.ready")));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        out.push(PrunedCacheMount { id, bytes });
    }
    Ok(out)
}

fn du(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .map(|rd| rd.flatten().map(|e| du(&e.path())).sum())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init() -> CacheInit<'static> {
        CacheInit {
            uid: 0,
            gid: 0,
            mode: None,
            seed: None,
        }
    }

    #[test]
    fn shared_users_get_one_dir_private_users_get_their_own() {
        let d = tempfile::tempdir().unwrap();
        let a = acquire(d.path(), "go", CacheSharing::Shared, init()).unwrap();
        let b = acquire(d.path(), "go", CacheSharing::Shared, init()).unwrap();
        assert_eq!(a.dir(), b.dir());
        let p = acquire(d.path(), "go", CacheSharing::Private, init()).unwrap();
        assert_ne!(p.dir(), a.dir());
        let q = acquire(d.path(), "go", CacheSharing::Private, init()).unwrap();
        assert_ne!(p.dir(), q.dir());
        let other = acquire(d.path(), "npm", CacheSharing::Shared, init()).unwrap();
        assert_ne!(other.dir(), a.dir());
    }

    #[test]
    fn locked_waits_for_the_holder() {
        let d = tempfile::tempdir().unwrap();
        let first = acquire(d.path(), "x", CacheSharing::Locked, init()).unwrap();
        std::fs::write(first.dir().join("f"), "1").unwrap();
        let root = d.path().to_path_buf();
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            let l = acquire(&root, "x", CacheSharing::Locked, init()).unwrap();
            // What the first holder wrote before releasing is there.
            tx.send(std::fs::read_to_string(l.dir().join("f")).unwrap())
                .unwrap();
        });
        assert!(rx
            .recv_timeout(std::time::Duration::from_millis(300))
            .is_err());
        std::fs::write(first.dir().join("f"), "2").unwrap();
        drop(first);
        assert_eq!(rx.recv().unwrap(), "2");
        t.join().unwrap();
    }

    #[test]
    fn new_dir_gets_owner_mode_and_seed_and_prune_removes_unheld() {
        use std::os::unix::fs::MetadataExt;
        let d = tempfile::tempdir().unwrap();
        let seed = d.path().join("seed");
        std::fs::create_dir(&seed).unwrap();
        std::fs::write(seed.join("s.txt"), "seed").unwrap();
        let l = acquire(
            d.path(),
            "c",
            CacheSharing::Shared,
            CacheInit {
                uid: 1234,
                gid: 4321,
                mode: Some(0o700),
                seed: Some(&seed),
            },
        )
        .unwrap();
        let m = std::fs::metadata(l.dir()).unwrap();
        assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (1234, 4321, 0o700));
        assert_eq!(
            std::fs::read_to_string(l.dir().join("s.txt")).unwrap(),
            "seed"
        );
        let held = acquire(d.path(), "held", CacheSharing::Shared, init()).unwrap();
        drop(l);
        let pruned = prune(d.path()).unwrap();
        assert_eq!(pruned.len(), 1, "{pruned:?}");
        assert_eq!(pruned[0].id, "c");
        assert_eq!(pruned[0].bytes, 4);
        assert!(held.dir().exists());
        // A pruned id starts empty next time.
        let again = acquire(d.path(), "c", CacheSharing::Shared, init()).unwrap();
        assert!(!again.dir().join("s.txt").exists());
    }
}
