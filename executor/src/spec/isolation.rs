//! Isolation settings of a spec beyond the defaults: IPC/PID/UTS namespace modes, host
//! devices (`--device`) and capability sets (`--cap-add`/`--cap-drop`).

use super::DEFAULT_CAPABILITIES;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Which IPC, PID and UTS namespaces the container uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespaces {
    pub ipc: NamespaceMode,
    pub pid: NamespaceMode,
    pub uts: NamespaceMode,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum NamespaceMode {
    /// A new namespace of the container's own.
    #[default]
    Private,
    /// The host's (kiln's own) namespace.
    Host,
    /// An existing namespace: `/proc/<pid>/ns/<kind>` of another container's init.
    Join(PathBuf),
}

/// A host device node made available in the container (`--device`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// The device node on the host (`/dev/fuse`).
    pub host_path: PathBuf,
    /// Where it appears inside the container (absolute, below `/dev` or elsewhere).
    pub container_path: String,
    /// The device cgroup access: a non-empty subset of `rwm` (read, write, mknod).
    pub access: String,
}

impl Device {
    /// Docker's `--device HOST[:CONTAINER][:PERMISSIONS]` (`/dev/fuse`, `/dev/null:/dev/n:r`).
    pub fn parse(s: &str) -> Result<Device, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let is_access = |p: &str| {
            !p.is_empty() && p.len() <= 3 && p.chars().all(|c| matches!(c, 'r' | 'w' | 'm'))
        };
        let (host, container, access) = match parts.as_slice() {
            [h] => (*h, *h, "rwm"),
            [h, a] if is_access(a) => (*h, *h, *a),
            [h, c] => (*h, *c, "rwm"),
            [h, c, a] if is_access(a) => (*h, *c, *a),
            _ => {
                return Err(format!(
                    "invalid device {s:?}: use HOST[:CONTAINER][:PERMISSIONS] with permissions from rwm"
                ))
            }
        };
        if !host.starts_with('/') || !container.starts_with('/') {
            return Err(format!("invalid device {s:?}: paths must be absolute"));
        }
        Ok(Device {
            host_path: PathBuf::from(host),
            container_path: container.to_string(),
            access: access.to_string(),
        })
    }
}

/// Every capability kiln can grant here (`CAP_…`): those the running kernel supports (the
/// caps crate knows newer ones than an older kernel has) and kiln's own bounding set holds
/// (a host may withhold some, such as CAP_SYS_RESOURCE, from kiln itself).
pub fn all_capabilities() -> Vec<String> {
    let supported = caps::runtime::thread_all_supported();
    let bounding = caps::read(None, caps::CapSet::Bounding).unwrap_or_else(|_| supported.clone());
    let mut all: Vec<String> = supported
        .intersection(&bounding)
        .map(|c| c.to_string())
        .collect();
    all.sort();
    all
}

/// Docker's `--cap-add`/`--cap-drop` on its default set: names with or without `CAP_`, any
/// case, `ALL` for every capability; a name in both lists is dropped unless added
/// explicitly after `--cap-drop ALL`. Returns the sorted set the process keeps.
pub fn capabilities_with(add: &[String], drop: &[String]) -> Result<Vec<String>, String> {
    let normalize = |name: &str| -> Result<String, String> {
        let upper = name.trim().to_ascii_uppercase();
        if upper == "ALL" {
            return Ok(upper);
        }
        let full = if upper.starts_with("CAP_") {
            upper
        } else {
            format!("CAP_{upper}")
        };
        full.parse::<caps::Capability>()
            .map(|c| c.to_string())
            .map_err(|_| format!("unknown capability {name:?} (see capabilities(7))"))
    };
    let add: Vec<String> = add.iter().map(|a| normalize(a)).collect::<Result<_, _>>()?;
    let drop: Vec<String> = drop
        .iter()
        .map(|d| normalize(d))
        .collect::<Result<_, _>>()?;
    let mut set: std::collections::BTreeSet<String> = if drop.iter().any(|d| d == "ALL") {
        Default::default()
    } else {
        DEFAULT_CAPABILITIES
            .iter()
            .map(|c| c.to_string())
            .filter(|c| !drop.contains(c))
            .collect()
    };
    if add.iter().any(|a| a == "ALL") {
        set.extend(all_capabilities());
    }
    set.extend(add.into_iter().filter(|a| a != "ALL"));
    Ok(set.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_as_docker() {
        let d = Device::parse("/dev/fuse").unwrap();
        assert_eq!(
            (d.container_path.as_str(), d.access.as_str()),
            ("/dev/fuse", "rwm")
        );
        let d = Device::parse("/dev/null:/dev/mynull:r").unwrap();
        assert_eq!(d.host_path, PathBuf::from("/dev/null"));
        assert_eq!(
            (d.container_path.as_str(), d.access.as_str()),
            ("/dev/mynull", "r")
        );
        let d = Device::parse("/dev/zero:rw").unwrap();
        assert_eq!(
            (d.container_path.as_str(), d.access.as_str()),
            ("/dev/zero", "rw")
        );
        assert!(Device::parse("dev/null").is_err());
        assert!(Device::parse("/a:/b:rwx").is_err());
        assert!(Device::parse("/a:/b:r:w").is_err());
    }

    #[test]
    fn capabilities_add_and_drop() {
        let caps = capabilities_with(&["net_admin".into()], &["CAP_CHOWN".into()]).unwrap();
        assert!(caps.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(!caps.contains(&"CAP_CHOWN".to_string()));
        assert!(caps.contains(&"CAP_KILL".to_string()));
        let only = capabilities_with(&["sys_time".into()], &["all".into()]).unwrap();
        assert_eq!(only, vec!["CAP_SYS_TIME".to_string()]);
        let all = capabilities_with(&["ALL".into()], &[]).unwrap();
        assert_eq!(all.len(), all_capabilities().len());
        assert!(capabilities_with(&["bogus".into()], &[]).is_err());
    }
}
