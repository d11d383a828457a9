//! Small filesystem helpers shared by the store's modules: durable renames and advisory locks.

use std::fs::File;
use std::io;
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

/// fsync a directory so a rename or unlink inside it survives a crash.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// An advisory lock held for as long as the value lives; the kernel drops it when the process
/// dies, so `kill -9` never leaves a stale lock behind.
pub struct HeldLock(#[allow(dead_code)] Flock<File>);

pub fn lock_file(file: File, exclusive: bool, wait: bool) -> io::Result<Option<HeldLock>> {
    let arg = match (exclusive, wait) {
        (true, true) => FlockArg::LockExclusive,
        (true, false) => FlockArg::LockExclusiveNonblock,
        (false, true) => FlockArg::LockShared,
        (false, false) => FlockArg::LockSharedNonblock,
    };
    match Flock::lock(file, arg) {
        Ok(l) => Ok(Some(HeldLock(l))),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) if !wait => Ok(None),
        Err((_, e)) => Err(io::Error::from(e)),
    }
}

/// Whether some live process holds a lock on `path` (the way temp files and temp snapshot
/// dirs mark themselves as in use).
pub fn is_locked(path: &Path) -> io::Result<bool> {
    let f = File::open(path)?;
    Ok(lock_file(f, true, false)?.is_none())
}

/// Disk space actually used by a tree (allocated blocks, hardlinked inodes counted once).
pub fn disk_usage(path: &Path) -> io::Result<u64> {
    use std::collections::HashSet;
    use std::os::unix::fs::MetadataExt;
    let mut seen = HashSet::new();
    let mut total = 0u64;
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let md = match std::fs::symlink_metadata(&p) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if md.nlink() > 1 && !md.is_dir() && !seen.insert((md.dev(), md.ino())) {
            continue;
        }
        total += md.blocks() * 512;
        if md.is_dir() {
            for e in std::fs::read_dir(&p)? {
                stack.push(e?.path());
            }
        }
    }
    Ok(total)
}
