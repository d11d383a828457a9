//! Container networking in the runtime (issue 9): what a container asks for (`--network`,
//! `-p`, `-P`, `--link`, `--dns`, ...; kept in its config as [`NetConfig`]), and the
//! [`session::Session`] its monitor holds while it runs: a pinned network namespace with
//! veths on its networks, managed `/etc/hosts` and `/etc/resolv.conf`, and the port proxy.
//! [`teardown`] undoes all of it and is safe to call any number of times: the monitor calls
//! it when the container is done, readers when they find its monitor gone, `rm` always.

pub mod connect;
pub mod foreground;
pub mod netns;
pub mod session;
pub mod settings;

use kiln_network::ports::Proto;
use kiln_network::{ManagerError, NetworkManager, PortBinding, PortSpec};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

pub use session::Session;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error(transparent)]
    Settings(#[from] settings::SettingsError),
    #[error(transparent)]
    Manager(#[from] ManagerError),
    #[error(transparent)]
    Netns(#[from] netns::NetnsError),
    #[error(transparent)]
    Proxy(#[from] kiln_network::ProxyError),
    #[error(transparent)]
    Record(#[from] crate::record::RecordError),
    #[error("--network container:{target}: that container is not running; start it first")]
    TargetNotRunning { target: String },
    #[error("container {id} uses --network {mode}: only containers on bridge networks can be connected to or disconnected from networks")]
    NotBridged { id: String, mode: String },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// `--network`: which namespace the container gets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetMode {
    /// Records made before networking existed: `ContainerConfig::network_host` decides.
    #[default]
    Legacy,
    None,
    Host,
    /// The default bridge or user networks, listed in [`NetConfig::networks`].
    Bridge,
    /// Join another container's namespace (`container:<name|id>`).
    Container(String),
}

/// A container's networking options, as given on the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetConfig {
    pub mode: NetMode,
    /// Networks to join at start (the first gets eth0 and the default route); the default
    /// network when empty.
    pub networks: Vec<String>,
    /// `-p` publications.
    pub publish: Vec<PortSpec>,
    /// `-P`: publish every exposed port on an ephemeral host port.
    pub publish_all: bool,
    /// The image's EXPOSE plus `--expose`.
    pub exposed: Vec<(u16, Proto)>,
    /// `--link name:alias`.
    pub links: Vec<(String, String)>,
    pub dns: Vec<IpAddr>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// `--ip` on the first network.
    pub ip: Option<Ipv4Addr>,
    /// `--mac-address` on the first network.
    pub mac: Option<String>,
    /// `--network-alias` names on user networks.
    pub aliases: Vec<String>,
}

impl NetConfig {
    /// Docker's `HostConfig.NetworkMode` string.
    pub fn mode_name(&self, network_host: bool) -> String {
        match &self.mode {
            NetMode::Legacy if network_host => "host".into(),
            NetMode::Legacy | NetMode::None => "none".into(),
            NetMode::Host => "host".into(),
            NetMode::Bridge => self
                .networks
                .first()
                .cloned()
                .unwrap_or_else(|| "bridge".into()),
            NetMode::Container(t) => format!("container:{t}"),
        }
    }

    /// Parses `--network`: none, host, bridge/default, container:<ref>, or a network name.
    pub fn set_mode(&mut self, value: &str) {
        self.mode = match value {
            "none" => NetMode::None,
            "host" => NetMode::Host,
            "" | "default" | "bridge" => NetMode::Bridge,
            other => match other.strip_prefix("container:") {
                Some(t) => NetMode::Container(t.to_string()),
                None => {
                    self.networks.insert(0, other.to_string());
                    NetMode::Bridge
                }
            },
        };
    }

    /// What the proxy publishes: `-p` plus, with `-P`, every exposed port.
    pub fn port_specs(&self) -> Vec<PortSpec> {
        let mut specs = self.publish.clone();
        if self.publish_all {
            specs.extend(kiln_network::ports::publish_all(&self.exposed));
        }
        specs
    }
}

/// The network manager for the store at `root`.
pub fn manager(root: &Path) -> Result<NetworkManager, NetError> {
    Ok(NetworkManager::open(settings::manager_config(root)?)?)
}

/// `containers/<id>/ports.json`: the bindings in effect while the container runs.
pub fn ports_file(root: &Path, id: &str) -> PathBuf {
    crate::config::ContainerPaths::new(root, id)
        .dir
        .join("ports.json")
}

/// The published ports in effect (empty when the container does not run).
pub fn bindings(root: &Path, id: &str) -> Vec<PortBinding> {
    std::fs::read(ports_file(root, id))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Makes the store's default network (and, after a reboot, its bridges and rules) exist.
pub fn ensure_default(mgr: &NetworkManager) -> Result<(), NetError> {
    let default = match mgr.inspect(&mgr.config().default_network) {
        Ok(n) => n,
        Err(_) => {
            // Picking the default network's subnet must see other stores' bridges.
            let _host = settings::host_lock()?;
            mgr.ensure_default()?
        }
    };
    // After a reboot the state survives but bridges and rules do not.
    if !kiln_network::netlink::link_exists(&default.bridge).unwrap_or(true) {
        mgr.restore()?;
    }
    Ok(())
}

/// The container's endpoints, by network name (for `inspect` and `port`).
pub fn endpoints(root: &Path, id: &str) -> Vec<(String, kiln_network::Endpoint)> {
    if !root.join("network").join("state.json").exists() {
        return Vec::new();
    }
    manager(root)
        .and_then(|m| Ok(m.endpoints(id)?))
        .unwrap_or_default()
}

/// Removes everything networking made for container `id`: its endpoints (veths, addresses,
/// peers' hosts entries), its namespace file and its port record. Idempotent.
pub fn teardown(root: &Path, id: &str) -> Result<(), NetError> {
    let _ = std::fs::remove_file(ports_file(root, id));
    let ns = netns::path(root, id);
    if root.join("network").join("state.json").exists() {
        let mgr = manager(root)?;
        // A read first: detaching rewrites (and fsyncs) the state even when idle.
        if !mgr.endpoints(id)?.is_empty() {
            mgr.detach_all(id)?;
        }
    }
    netns::remove(&ns)?;
    Ok(())
}

/// [`teardown`] for paths that must go on regardless (reconcile, rm): logs failures.
pub fn teardown_logged(root: &Path, id: &str) {
    if let Err(e) = teardown(root, id) {
        tracing::warn!(id, "removing the container's networking: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_flag_parsing_and_mode_names() {
        let mut c = NetConfig::default();
        assert_eq!(c.mode_name(true), "host");
        assert_eq!(c.mode_name(false), "none");
        c.set_mode("bridge");
        assert_eq!(c.mode, NetMode::Bridge);
        assert_eq!(c.mode_name(false), "bridge");
        let mut u = NetConfig::default();
        u.set_mode("appnet");
        assert_eq!(u.networks, vec!["appnet".to_string()]);
        assert_eq!(u.mode_name(false), "appnet");
        let mut k = NetConfig::default();
        k.set_mode("container:web");
        assert_eq!(k.mode, NetMode::Container("web".into()));
        assert_eq!(k.mode_name(false), "container:web");
        let mut p = NetConfig {
            publish_all: true,
            exposed: vec![(80, Proto::Tcp), (53, Proto::Udp)],
            ..Default::default()
        };
        p.publish = kiln_network::ports::parse_publish("127.0.0.1:8080:80").unwrap();
        let specs = p.port_specs();
        assert_eq!(specs.len(), 3);
        assert!(specs[1..].iter().all(|s| s.host_ports.is_none()));
    }
}
