//! `pause`/`unpause` with the cgroup freezer. cgroup v1: the executor makes no freezer
//! cgroup, so pausing creates `kiln-<id>` in the freezer hierarchy below the monitor's,
//! moves the container's processes in and freezes it; unpausing thaws, moves them back and
//! removes it. cgroup v2: `cgroup.freeze` of the container's own cgroup.

use crate::lifecycle::{self, LifecycleError};
use crate::procs;
use crate::record::{self, ContainerRecord, State};
use kiln_cache::Store;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum FreezerError {
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    #[error(transparent)]
    Record(#[from] record::RecordError),
    #[error("container {0} is not running")]
    NotRunning(String),
    #[error("container {0} is not paused")]
    NotPaused(String),
    #[error("no freezer cgroup hierarchy is mounted; pause needs one")]
    NoFreezer,
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("container {0} did not freeze within 10 s")]
    Timeout(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FreezerError + '_ {
    move |source| FreezerError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The v1 freezer cgroup pausing uses for this container (below its monitor's).
pub fn v1_dir(monitor_pid: i32, id: &str) -> Option<PathBuf> {
    let dirs = procs::cgroup_dirs(monitor_pid);
    dirs.iter()
        .find(|d| d.controllers.iter().any(|c| c == "freezer"))
        .map(|d| d.dir.join(format!("kiln-{id}")))
}

fn v2_dir(init: i32) -> Option<PathBuf> {
    procs::cgroup_dirs(init)
        .into_iter()
        .find(|d| d.controllers.is_empty())
        .map(|d| d.dir)
}

pub fn pause(store: &Store, reference: &str) -> Result<ContainerRecord, FreezerError> {
    let rec = lifecycle::find(store, reference)?;
    if rec.state != State::Running || rec.pid <= 0 || !lifecycle::monitor_alive(&rec) {
        return Err(FreezerError::NotRunning(rec.id));
    }
    if procs::unified_only() {
        let dir = v2_dir(rec.pid).ok_or(FreezerError::NoFreezer)?;
        let f = dir.join("cgroup.freeze");
        std::fs::write(&f, "1").map_err(io(&f))?;
    } else {
        let dir = v1_dir(rec.monitor_pid, &rec.id).ok_or(FreezerError::NoFreezer)?;
        if !dir.exists() {
            std::fs::create_dir(&dir).map_err(io(&dir))?;
        }
        // Move until every process is inside (a fork during the move lands in the old
        // cgroup only if its parent had not moved yet; the next round catches it).
        let procs_file = dir.join("cgroup.procs");
        loop {
            let inside = procs::cgroup_pids(&dir);
            let missing: Vec<i32> = procs::container_pids(rec.pid)
                .into_iter()
                .filter(|p| !inside.contains(p))
                .collect();
            if missing.is_empty() {
                break;
            }
            for p in missing {
                // A process may exit meanwhile; that is fine.
                let _ = std::fs::write(&procs_file, p.to_string());
            }
        }
        let state = dir.join("freezer.state");
        std::fs::write(&state, "FROZEN").map_err(io(&state))?;
        let until = Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(&state).map_err(io(&state))?.trim() != "FROZEN" {
            if Instant::now() > until {
                return Err(FreezerError::Timeout(rec.id));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    record::set_state(store.db(), &rec.id, State::Paused)?;
    let rec = record::get(store.db(), &rec.id)?;
    crate::events::emit(store.root(), "pause", &rec, &[]);
    Ok(rec)
}

pub fn unpause(store: &Store, reference: &str) -> Result<ContainerRecord, FreezerError> {
    let rec = lifecycle::find(store, reference)?;
    if rec.state != State::Paused {
        return Err(FreezerError::NotPaused(rec.id));
    }
    thaw(&rec)?;
    record::set_state(store.db(), &rec.id, State::Running)?;
    let rec = record::get(store.db(), &rec.id)?;
    crate::events::emit(store.root(), "unpause", &rec, &[]);
    Ok(rec)
}

/// Thaws the container and (v1) dissolves the freezer cgroup pausing made.
pub fn thaw(rec: &ContainerRecord) -> Result<(), FreezerError> {
    if procs::unified_only() {
        if let Some(dir) = v2_dir(rec.pid) {
            let f = dir.join("cgroup.freeze");
            std::fs::write(&f, "0").map_err(io(&f))?;
        }
        return Ok(());
    }
    let Some(dir) = v1_dir(rec.monitor_pid, &rec.id) else {
        return Ok(());
    };
    if !dir.exists() {
        return Ok(());
    }
    let state = dir.join("freezer.state");
    std::fs::write(&state, "THAWED").map_err(io(&state))?;
    remove_v1(&dir)
}

/// Moves what is left in a v1 freezer cgroup back to its parent and removes it.
pub fn remove_v1(dir: &Path) -> Result<(), FreezerError> {
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    let parent_procs = parent.join("cgroup.procs");
    // Thawed processes fork while we move them; repeat until the cgroup stays empty.
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let left = procs::cgroup_pids(dir);
        if left.is_empty() {
            match std::fs::remove_dir(dir) {
                Ok(()) => return Ok(()),
                // A fork between the look and the rmdir: go round again.
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < until => {}
                Err(e) => return Err(io(dir)(e)),
            }
        }
        for p in left {
            let _ = std::fs::write(&parent_procs, p.to_string());
        }
        if Instant::now() > until {
            return Err(FreezerError::Io {
                path: dir.to_path_buf(),
                source: std::io::Error::other("processes keep arriving; cannot empty it"),
            });
        }
    }
}
