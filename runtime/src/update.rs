//! `update`: change a container's limits and restart policy; a running container's cgroups
//! are changed in place, and the new values apply to every later start.

use crate::config::ContainerConfig;
use crate::lifecycle::{self, LifecycleError};
use crate::procs;
use crate::record::{self, ContainerRecord, State};
use crate::restart::RestartPolicy;
use kiln_cache::Store;
use kiln_executor::CpuQuota;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    #[error(transparent)]
    Record(#[from] record::RecordError),
    #[error("writing {value} to {path}: {source}")]
    Cgroup {
        path: PathBuf,
        value: String,
        #[source]
        source: std::io::Error,
    },
    #[error("container {0}: the running container has no {1} cgroup to update")]
    NoCgroup(String, &'static str),
}

/// What to change; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct Update {
    pub memory: Option<u64>,
    pub cpu_shares: Option<u64>,
    pub cpu_quota: Option<CpuQuota>,
    pub pids_limit: Option<u64>,
    pub restart: Option<RestartPolicy>,
}

fn write(path: &Path, value: String) -> Result<(), UpdateError> {
    std::fs::write(path, &value).map_err(|source| UpdateError::Cgroup {
        path: path.to_path_buf(),
        value,
        source,
    })
}

pub fn update(store: &Store, reference: &str, u: &Update) -> Result<ContainerRecord, UpdateError> {
    let rec = lifecycle::find(store, reference)?;
    let mut cfg: ContainerConfig = rec.config.clone();
    if u.memory.is_some() {
        cfg.memory = u.memory;
    }
    if u.cpu_shares.is_some() {
        cfg.cpu_shares = u.cpu_shares;
    }
    if u.cpu_quota.is_some() {
        cfg.cpu_quota = u.cpu_quota;
    }
    if u.pids_limit.is_some() {
        cfg.pids_limit = u.pids_limit;
    }
    if let Some(r) = u.restart {
        cfg.restart = r;
    }
    let live = matches!(rec.state, State::Running | State::Paused) && rec.pid > 0;
    if live {
        apply_live(&rec, u)?;
    }
    record::set_config(store.db(), &rec.id, &cfg)?;
    Ok(record::get(store.db(), &rec.id)?)
}

fn apply_live(rec: &ContainerRecord, u: &Update) -> Result<(), UpdateError> {
    let dirs = procs::cgroup_dirs(rec.pid);
    let v2 = procs::unified_only();
    let dir = |c: &'static str| {
        procs::controller_dir(&dirs, c).ok_or_else(|| UpdateError::NoCgroup(rec.id.clone(), c))
    };
    if let Some(m) = u.memory {
        let d = dir("memory")?;
        if v2 {
            write(&d.join("memory.max"), m.to_string())?;
        } else {
            let memsw = d.join("memory.memsw.limit_in_bytes");
            // memsw must stay >= the memory limit: raise it first, lower it last.
            let grow = procs_read(&d.join("memory.limit_in_bytes")).is_some_and(|cur| m > cur);
            if memsw.exists() && grow {
                write(&memsw, m.to_string())?;
            }
            write(&d.join("memory.limit_in_bytes"), m.to_string())?;
            if memsw.exists() && !grow {
                write(&memsw, m.to_string())?;
            }
        }
    }
    if let Some(s) = u.cpu_shares {
        let d = dir("cpu")?;
        if v2 {
            // Docker's mapping of shares (2..262144) to weight (1..10000).
            let weight = 1 + ((s.clamp(2, 262_144) - 2) * 9999) / 262_142;
            write(&d.join("cpu.weight"), weight.to_string())?;
        } else {
            write(&d.join("cpu.shares"), s.to_string())?;
        }
    }
    if let Some(q) = u.cpu_quota {
        let d = dir("cpu")?;
        if v2 {
            write(
                &d.join("cpu.max"),
                format!("{} {}", q.quota_us, q.period_us),
            )?;
        } else {
            write(&d.join("cpu.cfs_period_us"), q.period_us.to_string())?;
            write(&d.join("cpu.cfs_quota_us"), q.quota_us.to_string())?;
        }
    }
    if let Some(p) = u.pids_limit {
        write(&dir("pids")?.join("pids.max"), p.to_string())?;
    }
    Ok(())
}

fn procs_read(p: &Path) -> Option<u64> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}
