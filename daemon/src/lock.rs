//! Who may write a store: `ROOT/daemon.lock` is held exclusively by the daemon that owns
//! the root, and shared by every in-process kiln command, so the two never write at once.
//! The daemon's own helpers (the commands it forwards) carry its token in
//! [`TOKEN_ENV`] and skip the lock: they run on the daemon's behalf.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// The environment variable a daemon's forwarded command carries its daemon's token in.
pub const TOKEN_ENV: &str = "KILN_DAEMON_TOKEN";
const LOCK_FILE: &str = "daemon.lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("another kiln daemon (pid {pid}) owns the store {root}; stop it first, or use it with --host")]
    DaemonRunning { root: PathBuf, pid: String },
    #[error("the store {root} is owned by a running kiln daemon (pid {pid}); use it through the daemon (it is found on the default socket /run/kiln/kiln.sock, or set --host / KILN_HOST to its address), or stop it to work in-process")]
    OwnedByDaemon { root: PathBuf, pid: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LockError + '_ {
    move |source| LockError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn open(root: &Path) -> Result<(File, PathBuf), LockError> {
    let path = root.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io(&path))?;
    Ok((file, path))
}

/// `flock` without blocking; `Ok(false)` when someone else holds a conflicting lock.
fn try_flock(file: &File, op: libc::c_int) -> std::io::Result<bool> {
    // SAFETY: flock on a file descriptor we own; no memory is involved.
    let rc = unsafe { libc::flock(file.as_raw_fd(), op | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(err)
    }
}

fn blocking_flock(file: &File, op: libc::c_int) -> std::io::Result<()> {
    // SAFETY: as above.
    let rc = unsafe { libc::flock(file.as_raw_fd(), op) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The `pid token` line a daemon writes into the lock file.
fn read_owner(file: &mut File) -> (String, String) {
    let mut text = String::new();
    let _ = file.rewind().and_then(|_| file.read_to_string(&mut text));
    let mut words = text.split_whitespace();
    let pid = words.next().unwrap_or("unknown").to_string();
    let token = words.next().unwrap_or("").to_string();
    (pid, token)
}

/// The daemon's exclusive hold on its root; released (and the owner line cleared) on drop.
#[derive(Debug)]
pub struct DaemonLock {
    file: File,
    path: PathBuf,
    token: String,
}

impl DaemonLock {
    /// Take the root for this daemon. Another daemon on the root is an error; running
    /// in-process commands are waited for (`on_wait` is told once).
    pub fn acquire(root: &Path, on_wait: impl FnOnce()) -> Result<DaemonLock, LockError> {
        let (mut file, path) = open(root)?;
        if !try_flock(&file, libc::LOCK_EX).map_err(io(&path))? {
            // Held: by a daemon (it wrote its pid) or by in-process commands (shared).
            if try_flock(&file, libc::LOCK_SH).map_err(io(&path))? {
                let _ = blocking_flock(&file, libc::LOCK_UN);
            } else {
                let (pid, _) = read_owner(&mut file);
                return Err(LockError::DaemonRunning {
                    root: root.to_path_buf(),
                    pid,
                });
            }
            on_wait();
            blocking_flock(&file, libc::LOCK_EX).map_err(io(&path))?;
        }
        let token = random_token().map_err(io(&path))?;
        file.set_len(0).map_err(io(&path))?;
        file.rewind().map_err(io(&path))?;
        writeln!(file, "{} {token}", std::process::id()).map_err(io(&path))?;
        file.sync_all().map_err(io(&path))?;
        Ok(DaemonLock { file, path, token })
    }

    /// What the daemon's forwarded commands present in [`TOKEN_ENV`].
    pub fn token(&self) -> &str {
        &self.token
    }
}

impl Drop for DaemonLock {
    fn drop(&mut self) {
        if let Err(e) = self.file.set_len(0) {
            tracing::warn!("clearing {}: {e}", self.path.display());
        }
    }
}

/// An in-process command's shared hold on a root; keep it until the command ends.
#[derive(Debug)]
pub struct InProcessLock {
    _file: Option<File>,
}

impl InProcessLock {
    /// Refuse when a daemon owns `root`, unless `token` is that daemon's (the command runs
    /// for it). A root that does not exist yet has no daemon.
    pub fn acquire(root: &Path, token: Option<&str>) -> Result<InProcessLock, LockError> {
        if !root.is_dir() {
            return Ok(InProcessLock { _file: None });
        }
        let (mut file, path) = open(root)?;
        if try_flock(&file, libc::LOCK_SH).map_err(io(&path))? {
            return Ok(InProcessLock { _file: Some(file) });
        }
        let (pid, owner_token) = read_owner(&mut file);
        if token.is_some_and(|t| !t.is_empty() && t == owner_token) {
            return Ok(InProcessLock { _file: None });
        }
        Err(LockError::OwnedByDaemon {
            root: root.to_path_buf(),
            pid,
        })
    }
}

fn random_token() -> std::io::Result<String> {
    let mut buf = [0u8; 16];
    File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_daemon_excludes_in_process_use_and_a_second_daemon() {
        let dir = tempfile::tempdir().unwrap();
        let lock = DaemonLock::acquire(dir.path(), || {}).unwrap();
        let err = InProcessLock::acquire(dir.path(), None).unwrap_err();
        assert!(matches!(err, LockError::OwnedByDaemon { .. }), "{err}");
        assert!(err.to_string().contains(&std::process::id().to_string()));
        let err = DaemonLock::acquire(dir.path(), || {}).unwrap_err();
        assert!(matches!(err, LockError::DaemonRunning { .. }), "{err}");
        // The daemon's own forwarded commands pass with its token, others' tokens do not.
        InProcessLock::acquire(dir.path(), Some(lock.token())).unwrap();
        assert!(InProcessLock::acquire(dir.path(), Some("nope")).is_err());
        drop(lock);
        let _a = InProcessLock::acquire(dir.path(), None).unwrap();
        let _b = InProcessLock::acquire(dir.path(), None).unwrap();
    }

    #[test]
    fn a_daemon_waits_for_in_process_commands() {
        let dir = tempfile::tempdir().unwrap();
        let held = InProcessLock::acquire(dir.path(), None).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let root = dir.path().to_path_buf();
        let t = std::thread::spawn(move || {
            DaemonLock::acquire(&root, move || {
                let _ = tx.send(());
            })
            .map(|l| l.token().len())
        });
        rx.recv().unwrap();
        drop(held);
        assert_eq!(t.join().unwrap().unwrap(), 32);
    }

    #[test]
    fn a_missing_root_has_no_daemon() {
        let dir = tempfile::tempdir().unwrap();
        InProcessLock::acquire(&dir.path().join("absent"), None).unwrap();
    }
}
