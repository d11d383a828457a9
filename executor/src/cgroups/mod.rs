//! Per-container cgroups: memory (with OOM-kill detection), cpu and pids, on cgroup v1 (one
//! hierarchy per controller, as on this host) or a unified v2 hierarchy. A container's
//! cgroup is `kiln-<id>` directly below the caller's own cgroup in each hierarchy, and is
//! removed (after killing anything left in it) when the container is done.

mod cpuset;
mod devices;
mod discover;
mod oom;
mod optional;
mod remove;

pub use oom::OomListener;

use crate::spec::Limits;
use discover::Hierarchies;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long cleanup waits for killed processes to leave the cgroup.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("creating cgroup {path}: {source} (is a container with the same id running?)")]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing {value:?} to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        #[source]
        source: io::Error,
    },
    #[error("no mounted cgroup hierarchy for the {controller} controller (looked in /proc/self/mountinfo); mount it or run without {controller} limits")]
    NoController { controller: String },
    #[error("removing cgroup {path}: processes still inside after {DRAIN_TIMEOUT:?}")]
    Busy { path: PathBuf },
    #[error("removing cgroup {path}: {source}")]
    Remove {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// The cgroup directories of one container.
#[derive(Debug)]
pub struct Cgroups {
    version: Version,
    /// Every directory created (v1: one per controller; v2: one).
    dirs: Vec<PathBuf>,
    memory: PathBuf,
    removed: bool,
}

fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    std::fs::write(path, value).map_err(|source| CgroupError::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    })
}

fn read(path: &Path) -> Result<String, CgroupError> {
    std::fs::read_to_string(path).map_err(|source| CgroupError::Read {
        path: path.to_path_buf(),
        source,
    })
}

impl Cgroups {
    /// Creates the container's cgroups and applies `limits` (Docker's default device rules).
    pub fn create(id: &str, limits: &Limits) -> Result<Cgroups, CgroupError> {
        Self::create_with(id, limits, &devices::rules(&[], false)?)
    }

    /// Creates the cgroups for `spec`: its limits and its device rules (`--device`,
    /// privileged).
    pub fn create_for(spec: &crate::spec::ContainerSpec) -> Result<Cgroups, CgroupError> {
        let rules = devices::rules(&spec.devices, spec.privileged)?;
        Self::create_with(&spec.id, &spec.limits, &rules)
    }

    fn create_with(
        id: &str,
        limits: &Limits,
        device_rules: &Option<Vec<String>>,
    ) -> Result<Cgroups, CgroupError> {
        let name = format!("kiln-{id}");
        let hierarchies = Hierarchies::read()?;
        if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            // v2 device rules need an eBPF program; not implemented (see README).
            return Self::create_v2(&hierarchies, &name, limits);
        }
        let mut cg = Cgroups {
            version: Version::V1,
            dirs: Vec::new(),
            memory: PathBuf::new(),
            removed: false,
        };
        for controller in ["memory", "cpu", "pids"] {
            let dir = hierarchies.own_dir(Some(controller))?.join(&name);
            std::fs::create_dir(&dir).map_err(|source| CgroupError::Create {
                path: dir.clone(),
                source,
            })?;
            cg.dirs.push(dir.clone());
            match controller {
                "memory" => {
                    cg.memory = dir.clone();
                    if let Some(bytes) = limits.memory {
                        write(&dir.join("memory.limit_in_bytes"), &bytes.to_string())?;
                        // No swap beyond the limit, where the host accounts swap.
                        let memsw = dir.join("memory.memsw.limit_in_bytes");
                        if memsw.exists() {
                            write(&memsw, &bytes.to_string())?;
                        }
                    }
                }
                "cpu" => {
                    if let Some(shares) = limits.cpu_shares {
                        write(&dir.join("cpu.shares"), &shares.to_string())?;
                    }
                    if let Some(q) = limits.cpu_quota {
                        write(&dir.join("cpu.cfs_period_us"), &q.period_us.to_string())?;
                        write(&dir.join("cpu.cfs_quota_us"), &q.quota_us.to_string())?;
                    }
                }
                _ => {
                    if let Some(max) = limits.pids {
                        write(&dir.join("pids.max"), &max.to_string())?;
                    }
                }
            }
        }
        // On failure `cg` (dropped) removes what was made so far, these included.
        optional::create_v1(&hierarchies, &name, limits, device_rules, &mut cg.dirs)?;
        Ok(cg)
    }

    fn create_v2(
        hierarchies: &Hierarchies,
        name: &str,
        limits: &Limits,
    ) -> Result<Cgroups, CgroupError> {
        let parent = hierarchies.own_dir(None)?;
        let dir = parent.join(name);
        // Controllers must be enabled for children of our cgroup; already-enabled is fine.
        let control = parent.join("cgroup.subtree_control");
        let enabled = read(&control)?;
        let mut wanted = vec!["memory", "cpu", "pids"];
        if limits.cpuset_cpus.is_some() {
            wanted.push("cpuset");
        }
        for c in wanted {
            if !enabled.split_whitespace().any(|e| e == c) {
                write(&control, &format!("+{c}"))?;
            }
        }
        std::fs::create_dir(&dir).map_err(|source| CgroupError::Create {
            path: dir.clone(),
            source,
        })?;
        let cg = Cgroups {
            version: Version::V2,
            dirs: vec![dir.clone()],
            memory: dir.clone(),
            removed: false,
        };
        if let Some(bytes) = limits.memory {
            write(&dir.join("memory.max"), &bytes.to_string())?;
            let swap = dir.join("memory.swap.max");
            if swap.exists() {
                write(&swap, "0")?;
            }
        }
        if let Some(shares) = limits.cpu_shares {
            // Docker's/runc's shares -> weight conversion.
            let weight = 1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142;
            write(&dir.join("cpu.weight"), &weight.to_string())?;
        }
        if let Some(q) = limits.cpu_quota {
            write(
                &dir.join("cpu.max"),
                &format!("{} {}", q.quota_us, q.period_us),
            )?;
        }
        if let Some(max) = limits.pids {
            write(&dir.join("pids.max"), &max.to_string())?;
        }
        if let Some(cpus) = &limits.cpuset_cpus {
            cpuset::write_cpus(&dir, cpus)?;
        }
        Ok(cg)
    }

    /// Creates an empty `kiln-<id>` cgroup in EVERY hierarchy, as the parent of the cgroup
    /// an OCI runtime makes below it (runc joins all v1 hierarchies, so everything it
    /// creates is then ours to remove). OOM kills below are counted here too.
    ///
    /// `memory` is enforced here rather than by the runtime: v1 counts an OOM kill only in
    /// the cgroup whose limit was hit, and runc deletes its own cgroup when it exits.
    pub fn create_parent(id: &str, memory: Option<u64>) -> Result<Cgroups, CgroupError> {
        let name = format!("kiln-{id}");
        let limits = Limits {
            memory,
            ..Limits::default()
        };
        let hierarchies = Hierarchies::read()?;
        if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            return Self::create_v2(&hierarchies, &name, &limits);
        }
        let mut cg = Cgroups {
            version: Version::V1,
            dirs: Vec::new(),
            memory: PathBuf::new(),
            removed: false,
        };
        for key in hierarchies.v1_keys() {
            let dir = hierarchies.own_dir(Some(&key))?.join(&name);
            std::fs::create_dir(&dir).map_err(|source| CgroupError::Create {
                path: dir.clone(),
                source,
            })?;
            cg.dirs.push(dir.clone());
            if key == "memory" {
                cg.memory = dir.clone();
                if let Some(bytes) = memory {
                    write(&dir.join("memory.limit_in_bytes"), &bytes.to_string())?;
                    let memsw = dir.join("memory.memsw.limit_in_bytes");
                    if memsw.exists() {
                        write(&memsw, &bytes.to_string())?;
                    }
                }
            }
        }
        // Hybrid hosts: runc also makes a cgroup in the unified (v2) hierarchy.
        if let Ok(unified) = hierarchies.own_dir(None) {
            let dir = unified.join(&name);
            std::fs::create_dir(&dir).map_err(|source| CgroupError::Create {
                path: dir.clone(),
                source,
            })?;
            cg.dirs.push(dir);
        }
        if cg.memory.as_os_str().is_empty() {
            return Err(CgroupError::NoController {
                controller: "memory".into(),
            });
        }
        Ok(cg)
    }

    /// Takes over existing container cgroup directories (a dead caller's, found by
    /// `reclaim`) so that [`Cgroups::remove`] kills what is left and removes them.
    pub fn adopt(dirs: Vec<PathBuf>) -> Cgroups {
        let version = if dirs.iter().all(|d| d.join("cgroup.controllers").exists()) {
            Version::V2
        } else {
            Version::V1
        };
        Cgroups {
            version,
            dirs,
            memory: PathBuf::new(),
            removed: false,
        }
    }

    /// The files a single-threaded process writes "0" to in order to join every container
    /// cgroup itself: on v1 the `tasks` files, as moving just the writing thread spares
    /// the kernel's global threadgroup lock and its RCU grace period (`cgroup.procs`
    /// costs one per start); on v2 `cgroup.procs` (v2 moves whole processes only).
    pub fn join_files(&self) -> Vec<PathBuf> {
        let name = match self.version {
            Version::V1 => "tasks",
            Version::V2 => "cgroup.procs",
        };
        self.dirs.iter().map(|d| d.join(name)).collect()
    }

    /// The container cgroup directories (for checks and for runc's parent).
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// Whether the kernel's OOM killer killed anything in the container.
    pub fn oom_killed(&self) -> Result<bool, CgroupError> {
        let (file, key) = match self.version {
            Version::V1 => ("memory.oom_control", "oom_kill"),
            Version::V2 => ("memory.events", "oom_kill"),
        };
        let text = read(&self.memory.join(file))?;
        Ok(text.lines().any(|l| {
            l.split_once(' ')
                .is_some_and(|(k, v)| k == key && v.trim().parse::<u64>().is_ok_and(|n| n > 0))
        }))
    }

    /// Registers for OOM notifications on the container's memory cgroup (v1 only; v2's
    /// `memory.events` is hierarchical already). Needed when the processes live in a
    /// child cgroup (runc's): v1 counts `oom_kill` only in the victim's own cgroup, which
    /// runc deletes, but notifies every listener of the cgroup whose limit was hit.
    pub fn oom_listener(&self) -> Result<Option<OomListener>, CgroupError> {
        if self.version == Version::V2 {
            return Ok(None);
        }
        let control = self.memory.join("memory.oom_control");
        let file = std::fs::File::open(&control).map_err(|source| CgroupError::Read {
            path: control.clone(),
            source,
        })?;
        // SAFETY: plain syscall; the result is a new descriptor we own.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if efd < 0 {
            return Err(CgroupError::Read {
                path: control,
                source: io::Error::last_os_error(),
            });
        }
        // SAFETY: efd is a fresh descriptor from the kernel.
        let efd = unsafe { std::os::fd::OwnedFd::from_raw_fd(efd) };
        write(
            &self.memory.join("cgroup.event_control"),
            &format!("{} {}", efd.as_raw_fd(), file.as_raw_fd()),
        )?;
        Ok(Some(OomListener {
            efd,
            _control: file,
        }))
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            tracing::error!("leaking container cgroup: {e}");
        }
    }
}
