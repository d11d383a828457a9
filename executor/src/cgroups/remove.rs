//! Tearing a container's cgroups down: kill what is left, wait for it to leave, remove the
//! directories (an OCI runtime's sub-cgroups first).

use super::{read, CgroupError, Cgroups, DRAIN_TIMEOUT};
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

impl Cgroups {
    /// Kills whatever is left, waits for the cgroups to empty and removes them.
    pub fn remove(&mut self) -> Result<(), CgroupError> {
        if self.removed {
            return Ok(());
        }
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        // Children before parents (v1 dirs are independent; order only matters in v2).
        for dir in self.dirs.iter().rev() {
            if !dir.exists() {
                continue;
            }
            // Sub-cgroups (made by an OCI runtime) go first.
            remove_children(dir, deadline)?;
            loop {
                let procs = read(&dir.join("cgroup.procs"))?;
                if procs.trim().is_empty() {
                    break;
                }
                for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                if Instant::now() > deadline {
                    return Err(CgroupError::Busy { path: dir.clone() });
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            // rmdir can briefly fail with EBUSY while exiting tasks are torn down.
            loop {
                match std::fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                    Err(e)
                        if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline =>
                    {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(source) => {
                        return Err(CgroupError::Remove {
                            path: dir.clone(),
                            source,
                        })
                    }
                }
            }
        }
        self.removed = true;
        Ok(())
    }
}

fn remove_children(dir: &Path, deadline: Instant) -> Result<(), CgroupError> {
    let entries = std::fs::read_dir(dir).map_err(|source| CgroupError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            let child = entry.path();
            remove_children(&child, deadline)?;
            loop {
                let procs = read(&child.join("cgroup.procs")).unwrap_or_default();
                for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                match std::fs::remove_dir(&child) {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                    Err(e)
                        if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline =>
                    {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(source) => {
                        return Err(CgroupError::Remove {
                            path: child,
                            source,
                        })
                    }
                }
            }
        }
    }
    Ok(())
}
