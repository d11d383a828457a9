//! What a container was created with (kept as JSON in its record) and how that becomes the
//! executor's [`ContainerSpec`] each time the container starts.

use crate::restart::RestartPolicy;
use kiln_executor::{
    ContainerSpec, CpuQuota, Limits, Mount, MountKind, NetworkMode, Rlimit, Rootfs, SeccompMode,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The container's configuration: the image's defaults merged with the command line.
/// Fields added later default when reading older records.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerConfig {
    /// argv after Entrypoint/Cmd combination.
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub tty: bool,
    /// Keep stdin open (`-i`); stdin of a detached container is empty.
    pub open_stdin: bool,
    pub hostname: Option<String>,
    pub network_host: bool,
    pub labels: BTreeMap<String, String>,
    pub restart: RestartPolicy,
    /// Signal `stop` sends first (number); default SIGTERM.
    pub stop_signal: i32,
    /// Seconds `stop` waits before SIGKILL.
    pub stop_timeout: u64,
    pub memory: Option<u64>,
    pub cpu_shares: Option<u64>,
    pub pids_limit: Option<u64>,
    /// `--cpus`: CPU bandwidth quota per period.
    pub cpu_quota: Option<CpuQuota>,
    /// `--ulimit`.
    pub rlimits: Vec<Rlimit>,
    /// `--security-opt no-new-privileges`.
    pub no_new_privileges: bool,
    /// `--security-opt seccomp=unconfined`.
    pub seccomp_unconfined: bool,
    pub init: bool,
    /// `--add-host name:address` lines for /etc/hosts.
    pub extra_hosts: Vec<(String, String)>,
    /// The healthcheck in force (image's merged with flags); None without one.
    pub health: Option<crate::health::HealthConfig>,
    pub read_only: bool,
    pub auto_remove: bool,
    pub mounts: Vec<MountConfig>,
    /// `--ipc`, `--pid`, `--uts`, `--device`, `--cap-*`, `--privileged`, `--cpuset-cpus`,
    /// `--shm-size` (applied at each start, see `isolation.rs`).
    pub isolation: crate::isolation::Isolation,
    /// `--network`, `-p`, `-P`, `--link`, `--dns`, ... (issue 9).
    pub net: crate::network::NetConfig,
    /// `network connect --alias` names, by network name: aliases are per network, and
    /// `net.aliases` (`--network-alias`) belong to the first network only.
    pub network_aliases: BTreeMap<String, Vec<String>>,
    /// `--log-driver` and `--log-opt` (json-file without rotation in older records).
    pub log: crate::logs::LogConfig,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountConfig {
    pub destination: String,
    pub source: MountSource,
    pub readonly: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MountSource {
    /// A host path bound into the container.
    Bind(PathBuf),
    /// A kiln volume (`volumes/<name>/_data`); anonymous ones are removed by `rm -v`.
    Volume { name: String, anonymous: bool },
    /// A fresh tmpfs for each start (`--tmpfs`, `--mount type=tmpfs`).
    Tmpfs { size: Option<u64> },
}

/// Where a container's files live: `containers/<id>/`.
#[derive(Debug, Clone)]
pub struct ContainerPaths {
    pub dir: PathBuf,
}

impl ContainerPaths {
    pub fn new(store_root: &Path, id: &str) -> Self {
        ContainerPaths {
            dir: store_root.join("containers").join(id),
        }
    }
    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }
    pub fn work(&self) -> PathBuf {
        self.dir.join("work")
    }
    /// The lowerdir used when the image has no layers.
    pub fn empty(&self) -> PathBuf {
        self.dir.join("empty")
    }
    /// Docker's json-file log.
    pub fn log(&self) -> PathBuf {
        self.dir.join("container-json.log")
    }
    /// The monitor's own diagnostics.
    pub fn monitor_log(&self) -> PathBuf {
        self.dir.join("monitor.log")
    }
}

/// Directory holding a named volume's data.
pub fn volume_data(store_root: &Path, name: &str) -> PathBuf {
    store_root.join("volumes").join(name).join("_data")
}

impl ContainerConfig {
    /// The executor spec for one start of container `id`. `lower` lists the image's snapshot
    /// directories bottom first.
    pub fn to_spec(
        &self,
        store_root: &Path,
        id: &str,
        lower: Vec<PathBuf>,
        paths: &ContainerPaths,
    ) -> ContainerSpec {
        let lower = if lower.is_empty() {
            vec![paths.empty()]
        } else {
            lower
        };
        let rootfs = Rootfs::Overlay {
            lower,
            upper: paths.upper(),
            work: paths.work(),
        };
        let mut spec = ContainerSpec::new(id, rootfs, self.args.clone());
        spec.process.env = self.env.clone();
        spec.process.cwd = self.workdir.clone();
        spec.process.user = self.user.clone();
        spec.process.tty = self.tty;
        spec.hostname = self.hostname.clone();
        spec.network = if self.network_host {
            NetworkMode::Host
        } else {
            NetworkMode::None
        };
        spec.init = self.init;
        spec.readonly_rootfs = self.read_only;
        spec.limits = Limits {
            memory: self.memory,
            cpu_shares: self.cpu_shares,
            cpu_quota: self.cpu_quota,
            pids: self.pids_limit,
            rlimits: self.rlimits.clone(),
            cpuset_cpus: self.isolation.cpuset_cpus.clone(),
        };
        spec.no_new_privileges = self.no_new_privileges;
        spec.extra_hosts = self.extra_hosts.clone();
        if self.seccomp_unconfined {
            spec.seccomp = SeccompMode::Unconfined;
        }
        spec.mounts = self
            .mounts
            .iter()
            .map(|m| Mount {
                destination: m.destination.clone(),
                kind: match &m.source {
                    MountSource::Bind(p) => MountKind::Bind { source: p.clone() },
                    MountSource::Volume { name, .. } => MountKind::Bind {
                        source: volume_data(store_root, name),
                    },
                    MountSource::Tmpfs { size } => MountKind::Tmpfs { size: *size },
                },
                readonly: m.readonly,
            })
            .collect();
        spec
    }
}

/// argv from the image's Entrypoint/Cmd and the command line, as `docker run` combines them:
/// `--entrypoint ""` clears the image's entrypoint, a new entrypoint drops the image's Cmd.
pub fn command_line(
    image_entrypoint: Option<&[String]>,
    image_cmd: Option<&[String]>,
    entrypoint: Option<&str>,
    command: &[String],
) -> Vec<String> {
    let ep: Vec<String> = match entrypoint {
        Some("") => Vec::new(),
        Some(e) => vec![e.to_string()],
        None => image_entrypoint.map(<[String]>::to_vec).unwrap_or_default(),
    };
    let cmd: Vec<String> = if !command.is_empty() {
        command.to_vec()
    } else if entrypoint.is_some() {
        Vec::new()
    } else {
        image_cmd.map(<[String]>::to_vec).unwrap_or_default()
    };
    ep.into_iter().chain(cmd).collect()
}

/// The image's environment with `-e` entries applied (`NAME` alone takes the caller's value,
/// and is dropped when the caller has none).
pub fn merge_env(image_env: &[String], flags: &[String]) -> Vec<String> {
    let mut env: Vec<String> = image_env.to_vec();
    for f in flags {
        let entry = match f.split_once('=') {
            Some(_) => f.clone(),
            None => match std::env::var(f) {
                Ok(v) => format!("{f}={v}"),
                Err(_) => continue,
            },
        };
        let key = entry.split('=').next().unwrap_or_default().to_string();
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(entry);
    }
    env
}

/// A signal by name (`TERM`, `SIGTERM`, `sigkill`) or number.
pub fn parse_signal(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .ok()
        .map(|s| s as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn combines_entrypoint_and_cmd_as_docker() {
        let ep = v(&["/entry"]);
        let cmd = v(&["default"]);
        assert_eq!(
            command_line(Some(&ep), Some(&cmd), None, &[]),
            v(&["/entry", "default"])
        );
        assert_eq!(
            command_line(Some(&ep), Some(&cmd), None, &v(&["x"])),
            v(&["/entry", "x"])
        );
        assert_eq!(
            command_line(Some(&ep), Some(&cmd), Some("sh"), &[]),
            v(&["sh"])
        );
        assert_eq!(
            command_line(Some(&ep), Some(&cmd), Some(""), &v(&["ls"])),
            v(&["ls"])
        );
    }

    #[test]
    fn env_and_signals() {
        assert_eq!(
            merge_env(&v(&["PATH=/bin", "A=1"]), &v(&["A=2", "B=3"])),
            v(&["PATH=/bin", "A=2", "B=3"])
        );
        assert_eq!(parse_signal("TERM"), Some(libc::SIGTERM));
        assert_eq!(parse_signal("sigkill"), Some(libc::SIGKILL));
        assert_eq!(parse_signal("10"), Some(10));
        assert_eq!(parse_signal("NOPE"), None);
        assert_eq!(parse_signal("0"), None);
    }

    #[test]
    fn spec_binds_volumes_from_the_store() {
        let cfg = ContainerConfig {
            args: v(&["true"]),
            mounts: vec![MountConfig {
                destination: "/data".into(),
                source: MountSource::Volume {
                    name: "v1".into(),
                    anonymous: false,
                },
                readonly: true,
            }],
            ..Default::default()
        };
        let paths = ContainerPaths::new(Path::new("/r"), "abc");
        let spec = cfg.to_spec(Path::new("/r"), "abc", vec![], &paths);
        match &spec.mounts[0].kind {
            MountKind::Bind { source } => assert_eq!(source, Path::new("/r/volumes/v1/_data")),
            other => panic!("unexpected mount {other:?}"),
        }
        assert!(spec.mounts[0].readonly);
        match &spec.rootfs {
            Rootfs::Overlay { lower, .. } => assert_eq!(lower, &vec![paths.empty()]),
            other => panic!("unexpected rootfs {other:?}"),
        }
    }
}

/// Docker's `--ulimit name=soft[:hard]` (`nofile=1024:2048`).
pub fn parse_ulimit(s: &str) -> Option<Rlimit> {
    let (name, vals) = s.split_once('=')?;
    let kind = kiln_executor::RlimitKind::from_docker_name(name)?;
    let (soft, hard) = match vals.split_once(':') {
        Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
        None => {
            let v = vals.parse().ok()?;
            (v, v)
        }
    };
    Some(Rlimit { kind, soft, hard })
}

/// Docker's `--cpus 1.5`: a quota per 100 ms period.
pub fn cpus_quota(cpus: f64) -> Option<CpuQuota> {
    (cpus > 0.0 && cpus.is_finite()).then(|| CpuQuota {
        quota_us: (cpus * 100_000.0).round() as u64,
        period_us: 100_000,
    })
}

#[cfg(test)]
mod option_tests {
    use super::*;

    #[test]
    fn ulimits_and_cpus() {
        let r = parse_ulimit("nofile=1024:2048").unwrap();
        assert_eq!((r.soft, r.hard), (1024, 2048));
        assert_eq!(parse_ulimit("nproc=10").unwrap().hard, 10);
        assert!(parse_ulimit("bogus=1").is_none());
        assert!(parse_ulimit("nofile=x").is_none());
        assert_eq!(cpus_quota(1.5).unwrap().quota_us, 150_000);
        assert!(cpus_quota(0.0).is_none());
    }
}
