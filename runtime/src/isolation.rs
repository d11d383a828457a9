//! A container's isolation options beyond the defaults (`--ipc`, `--pid`, `--uts`,
//! `--device`, `--cap-add`/`--cap-drop`, `--privileged`, `--cpuset-cpus`, `--shm-size`)
//! and how they become executor settings at each start: another container's namespaces
//! are found through its running init, and a shareable IPC namespace gets a `/dev/shm`
//! mounted on the host (`containers/<id>/shm`) so joiners can bind the same one.

use crate::config::ContainerPaths;
use crate::record::RecordError;
use kiln_cache::Store;
use kiln_executor::{ContainerSpec, Device, NamespaceMode};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Docker's default `/dev/shm` size.
pub const DEFAULT_SHM: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum IsolationError {
    #[error("invalid --{flag} {value:?}: use {expected}")]
    Parse {
        flag: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("--{flag} container:{target}: {source}")]
    Target {
        flag: &'static str,
        target: String,
        #[source]
        source: Box<RecordError>,
    },
    #[error("--{flag} container:{target}: that container is not running; start it first")]
    NotRunning { flag: &'static str, target: String },
    #[error(
        "--ipc container:{0}: its IPC namespace is not shareable; create it with --ipc shareable"
    )]
    NotShareable(String),
    #[error("mounting the shared /dev/shm at {path}: {source}")]
    Shm {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum IpcMode {
    #[default]
    Private,
    /// Its own namespace, which other containers may join.
    Shareable,
    Host,
    Container(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PidMode {
    #[default]
    Private,
    Host,
    Container(String),
}

/// The options as given (kept in the container's record).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Isolation {
    pub ipc: IpcMode,
    pub pid: PidMode,
    pub uts_host: bool,
    pub devices: Vec<Device>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub cpuset_cpus: Option<String>,
    /// `/dev/shm` size in bytes (default 64 MiB).
    pub shm_size: Option<u64>,
}

impl IpcMode {
    pub fn parse(s: &str) -> Result<IpcMode, IsolationError> {
        Ok(match s {
            "" | "private" => IpcMode::Private,
            "shareable" => IpcMode::Shareable,
            "host" => IpcMode::Host,
            other => match other.strip_prefix("container:").filter(|t| !t.is_empty()) {
                Some(t) => IpcMode::Container(t.to_string()),
                None => {
                    return Err(IsolationError::Parse {
                        flag: "ipc",
                        value: s.to_string(),
                        expected: "private, shareable, host or container:<name|id>",
                    })
                }
            },
        })
    }
}

impl PidMode {
    pub fn parse(s: &str) -> Result<PidMode, IsolationError> {
        Ok(match s {
            "" | "private" => PidMode::Private,
            "host" => PidMode::Host,
            other => match other.strip_prefix("container:").filter(|t| !t.is_empty()) {
                Some(t) => PidMode::Container(t.to_string()),
                None => {
                    return Err(IsolationError::Parse {
                        flag: "pid",
                        value: s.to_string(),
                        expected: "host or container:<name|id>",
                    })
                }
            },
        })
    }
}

/// `--uts host` (Docker accepts nothing else besides the default).
pub fn parse_uts(s: &str) -> Result<bool, IsolationError> {
    match s {
        "" | "private" => Ok(false),
        "host" => Ok(true),
        _ => Err(IsolationError::Parse {
            flag: "uts",
            value: s.to_string(),
            expected: "host",
        }),
    }
}

/// Where a shareable container's `/dev/shm` is mounted on the host.
pub fn shm_dir(paths: &ContainerPaths) -> PathBuf {
    paths.dir.join("shm")
}

impl Isolation {
    /// Applies the options to the spec of one start. Needs the store to find containers
    /// whose namespaces are joined; mounts a shareable container's `/dev/shm` (see
    /// [`release`]).
    pub fn apply(
        &self,
        store: &Store,
        paths: &ContainerPaths,
        spec: &mut ContainerSpec,
    ) -> Result<(), IsolationError> {
        spec.devices = self.devices.clone();
        spec.privileged = self.privileged;
        spec.limits.cpuset_cpus = self.cpuset_cpus.clone();
        if !self.cap_add.is_empty() || !self.cap_drop.is_empty() {
            spec.capabilities = Some(
                kiln_executor::capabilities_with(&self.cap_add, &self.cap_drop).map_err(|e| {
                    IsolationError::Parse {
                        flag: "cap-add/--cap-drop",
                        value: e,
                        expected: "capability names such as NET_ADMIN, or ALL",
                    }
                })?,
            );
        }
        spec.shm_size = self.shm_size;
        if self.uts_host {
            spec.namespaces.uts = NamespaceMode::Host;
        }
        match &self.pid {
            PidMode::Private => {}
            PidMode::Host => spec.namespaces.pid = NamespaceMode::Host,
            PidMode::Container(t) => {
                let pid = running_init(store, "pid", t)?.0;
                spec.namespaces.pid = NamespaceMode::Join(ns_path(pid, "pid"));
            }
        }
        match &self.ipc {
            IpcMode::Private => {}
            IpcMode::Shareable => {
                let dir = shm_dir(paths);
                mount_shm(&dir, self.shm_size.unwrap_or(DEFAULT_SHM))?;
                spec.shm_source = Some(dir);
            }
            IpcMode::Host => {
                spec.namespaces.ipc = NamespaceMode::Host;
                spec.shm_source = Some(PathBuf::from("/dev/shm"));
            }
            IpcMode::Container(t) => {
                let (pid, target) = running_init(store, "ipc", t)?;
                if target.config.isolation.ipc != IpcMode::Shareable {
                    return Err(IsolationError::NotShareable(t.clone()));
                }
                spec.namespaces.ipc = NamespaceMode::Join(ns_path(pid, "ipc"));
                spec.shm_source = Some(shm_dir(&ContainerPaths::new(store.root(), &target.id)));
            }
        }
        Ok(())
    }
}

fn ns_path(pid: i32, kind: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/ns/{kind}"))
}

/// The init pid and record of a running container named by the user.
fn running_init(
    store: &Store,
    flag: &'static str,
    target: &str,
) -> Result<(i32, crate::ContainerRecord), IsolationError> {
    let rec = crate::record::find(store.db(), target).map_err(|source| IsolationError::Target {
        flag,
        target: target.to_string(),
        source: Box::new(source),
    })?;
    if rec.pid <= 0 || !crate::lifecycle::monitor_alive(&rec) {
        return Err(IsolationError::NotRunning {
            flag,
            target: target.to_string(),
        });
    }
    Ok((rec.pid, rec))
}

/// A tmpfs on the host for a shareable IPC namespace's `/dev/shm` (kept across restarts).
fn mount_shm(dir: &Path, size: u64) -> Result<(), IsolationError> {
    let err = |source| IsolationError::Shm {
        path: dir.to_path_buf(),
        source,
    };
    if is_mountpoint(dir) {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        err(nix::errno::Errno::from_raw(
            e.raw_os_error().unwrap_or(libc::EIO),
        ))
    })?;
    let data = format!("mode=1777,size={size}");
    mount(
        Some("shm"),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some(data.as_str()),
    )
    .map_err(err)
}

fn is_mountpoint(dir: &Path) -> bool {
    let Some(d) = dir.to_str() else { return false };
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(d))
}

/// Unmounts a shareable container's `/dev/shm` (when its monitor ends or it is removed).
pub fn release(paths: &ContainerPaths) {
    let dir = shm_dir(paths);
    if is_mountpoint(&dir) {
        if let Err(e) = umount2(&dir, MntFlags::MNT_DETACH) {
            tracing::warn!("unmounting {}: {e}", dir.display());
        }
    }
    let _ = std::fs::remove_dir(&dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_modes() {
        assert_eq!(IpcMode::parse("shareable").unwrap(), IpcMode::Shareable);
        assert_eq!(
            IpcMode::parse("container:web").unwrap(),
            IpcMode::Container("web".into())
        );
        assert!(IpcMode::parse("container:").is_err());
        assert!(IpcMode::parse("bogus").is_err());
        assert_eq!(PidMode::parse("host").unwrap(), PidMode::Host);
        assert!(PidMode::parse("shareable").is_err());
        assert!(parse_uts("host").unwrap());
        assert!(parse_uts("container:x").is_err());
    }
}
