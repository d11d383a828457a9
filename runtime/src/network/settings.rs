//! Host-wide networking settings of one store, kept in `<root>/network/settings.json` so
//! every kiln process agrees on them (monitors run with an empty environment). The
//! environment sets them (like Docker's daemon flags) whenever a CLI process sees it:
//! `KILN_BRIDGE_NAME` (default `kiln0`; `kb-<hash>` for a store other than /var/lib/kiln), `KILN_BRIDGE_SUBNET` (Docker's `bip`; default: the
//! first free subnet of Docker's pool that no host route overlaps), `KILN_BRIDGE_ICC`
//! (`false` = Docker's `--icc=false` on the default network), `KILN_FIREWALL_TABLE`
//! (nftables table name, default `kiln`) and `KILN_IP_FORWARD` (`false` leaves the host's
//! forwarding switch alone). They take effect when the default network is created.

use ipnet::Ipv4Net;
use kiln_network::ManagerConfig;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{var}={value:?} is invalid: {why}")]
    Env {
        var: &'static str,
        value: String,
        why: String,
    },
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not valid JSON ({source}); fix or delete it")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub bridge: String,
    pub subnet: Option<Ipv4Net>,
    pub icc: bool,
    pub firewall_table: String,
    pub ip_forward: bool,
}

impl Settings {
    /// kiln0 and table `kiln` for the default store; another store (`--root`) gets names of
    /// its own, so two stores on one host never share a bridge or clobber each other's rules.
    fn defaults_for(root: &Path) -> Settings {
        let (bridge, firewall_table) = if root == Path::new(DEFAULT_ROOT) {
            ("kiln0".to_string(), "kiln".to_string())
        } else {
            let h = hex::encode(Sha256::digest(root.as_os_str().as_encoded_bytes()));
            (format!("kb-{}", &h[..8]), format!("kiln_{}", &h[..8]))
        };
        Settings {
            bridge,
            subnet: None,
            icc: true,
            firewall_table,
            ip_forward: true,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings::defaults_for(Path::new(DEFAULT_ROOT))
    }
}

const DEFAULT_ROOT: &str = "/var/lib/kiln";

/// Serialises choosing subnets and bridge names across all stores of the host: each store
/// locks only its own state, and two stores picking at once would take the same subnet.
pub fn host_lock() -> Result<nix::fcntl::Flock<std::fs::File>, SettingsError> {
    let path = PathBuf::from("/run/kiln/network.lock");
    let open = || -> std::io::Result<std::fs::File> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
    };
    let f = open().map_err(|source| SettingsError::Write {
        path: path.clone(),
        source,
    })?;
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, e)| {
        SettingsError::Write {
            path,
            source: e.into(),
        }
    })
}

fn file(root: &Path) -> PathBuf {
    root.join("network").join("settings.json")
}

fn parse_bool(var: &'static str, v: &str) -> Result<bool, SettingsError> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(SettingsError::Env {
            var,
            value: v.into(),
            why: "use true or false".into(),
        }),
    }
}

/// The stored settings with the environment's overrides applied.
fn with_env(mut s: Settings) -> Result<Settings, SettingsError> {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let Some(v) = get("KILN_BRIDGE_NAME") {
        s.bridge = v;
    }
    if let Some(v) = get("KILN_BRIDGE_SUBNET") {
        let net: Ipv4Net = v.parse().map_err(|e| SettingsError::Env {
            var: "KILN_BRIDGE_SUBNET",
            value: v.clone(),
            why: format!("{e}; use CIDR like 10.100.0.1/24"),
        })?;
        s.subnet = Some(net);
    }
    if let Some(v) = get("KILN_BRIDGE_ICC") {
        s.icc = parse_bool("KILN_BRIDGE_ICC", &v)?;
    }
    if let Some(v) = get("KILN_FIREWALL_TABLE") {
        s.firewall_table = v;
    }
    if let Some(v) = get("KILN_IP_FORWARD") {
        s.ip_forward = parse_bool("KILN_IP_FORWARD", &v)?;
    }
    Ok(s)
}

fn read(root: &Path) -> Result<Option<Settings>, SettingsError> {
    let path = file(root);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| SettingsError::Parse { path, source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SettingsError::Read { path, source }),
    }
}

/// The store's settings, updated from the environment (and saved when that changed them).
pub fn load(root: &Path) -> Result<Settings, SettingsError> {
    let stored = read(root)?;
    let s = with_env(
        stored
            .clone()
            .unwrap_or_else(|| Settings::defaults_for(root)),
    )?;
    if stored.as_ref() != Some(&s) {
        let path = file(root);
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension("json.tmp");
            std::fs::write(&tmp, serde_json::to_vec_pretty(&s).unwrap_or_default())?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|source| SettingsError::Write { path, source })?;
    }
    Ok(s)
}

/// The network manager's configuration for the store at `root`.
pub fn manager_config(root: &Path) -> Result<ManagerConfig, SettingsError> {
    let s = load(root)?;
    let mut c = ManagerConfig::new(root);
    c.default_bridge = s.bridge;
    c.default_subnet = s.subnet;
    c.default_icc = s.icc;
    c.firewall_table = s.firewall_table;
    c.ip_forward = s.ip_forward;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_settings_round_trip_and_bad_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let s = load(dir.path()).unwrap();
        // A store other than the default one gets names of its own.
        assert!(
            s.bridge.starts_with("kb-") && s.bridge.len() <= 15,
            "{}",
            s.bridge
        );
        assert!(s.firewall_table.starts_with("kiln_"));
        assert_eq!(Settings::default().bridge, "kiln0");
        let again = read(dir.path()).unwrap();
        // Defaults are not written unless the environment changed something.
        assert!(again.is_none() || again == Some(s));
        std::fs::create_dir_all(dir.path().join("network")).unwrap();
        std::fs::write(file(dir.path()), b"{not json").unwrap();
        assert!(matches!(load(dir.path()), Err(SettingsError::Parse { .. })));
        assert!(parse_bool("X", "maybe").is_err());
        assert!(!parse_bool("X", "false").unwrap());
    }
}
