//! The entry point: [`NetworkManager`] creates, lists, inspects and removes bridge
//! networks, keeping the kernel (bridges, nftables) in line with the stored state.
//! Attaching containers lives in `attach`.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use ipnet::Ipv4Net;
use sha2::{Digest, Sha256};

use crate::firewall::{self, Firewall, FirewallError};
use crate::hosts::HostsError;
use crate::ipam::{self, IpamError};
use crate::netlink::{self, NetlinkError};
use crate::state::{Network, State};
use crate::store::{Store, StoreError};
use crate::subnet::{self, SubnetError};

#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ipam(#[from] IpamError),
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    #[error(transparent)]
    Firewall(#[from] FirewallError),
    #[error(transparent)]
    Subnet(#[from] SubnetError),
    #[error(transparent)]
    Hosts(#[from] HostsError),
    #[error("network with name {0} already exists")]
    Exists(String),
    #[error("network {0} not found; list networks with `kiln network ls`")]
    NotFound(String),
    #[error("network name {0:?} is invalid: use letters, digits, '_', '.' and '-', starting with a letter or digit")]
    BadName(String),
    #[error(
        "bridge name {0:?} is invalid: at most 15 characters of letters, digits, '_', '.' and '-'"
    )]
    BadBridge(String),
    #[error("bridge {bridge} already belongs to network {network}")]
    BridgeTaken { bridge: String, network: String },
    #[error("subnet {subnet} overlaps {other}; pick another --subnet")]
    Overlap { subnet: Ipv4Net, other: String },
    #[error("network {name} has active endpoints ({containers}); disconnect or remove them first")]
    InUse { name: String, containers: String },
    #[error("container {container} is already attached to network {network}")]
    AlreadyAttached { container: String, network: String },
    #[error("container {container} is not attached to network {network}")]
    NotAttached { container: String, network: String },
    #[error("invalid MAC address {0:?}: expected six hex pairs like 02:42:ac:11:00:02")]
    BadMac(String),
    #[error("could not get container for --link {0}: no container of that name on network {1}")]
    LinkTarget(String, String),
}

/// Host-wide settings of kiln networking.
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// kiln's root; state goes to `<root>/network/`.
    pub root: PathBuf,
    /// The network containers join when none is named (Docker: `bridge`).
    pub default_network: String,
    /// Interface name of the default network's bridge.
    pub default_bridge: String,
    /// Docker's `bip`: the default network's subnet; chosen to avoid host routes when `None`.
    pub default_subnet: Option<Ipv4Net>,
    /// Name of kiln's nftables tables.
    pub firewall_table: String,
    /// Turn on IPv4 forwarding when a non-internal network is created (Docker does).
    pub ip_forward: bool,
    /// Inter-container communication on the default network (Docker's daemon `--icc`).
    pub default_icc: bool,
}

impl ManagerConfig {
    pub fn new(root: impl Into<PathBuf>) -> ManagerConfig {
        ManagerConfig {
            root: root.into(),
            default_network: "bridge".into(),
            default_bridge: "kiln0".into(),
            default_subnet: None,
            firewall_table: "kiln".into(),
            ip_forward: true,
            default_icc: true,
        }
    }
}

/// `kiln network create` options.
#[derive(Debug, Clone, Default)]
pub struct CreateNetwork {
    pub name: String,
    pub subnet: Option<Ipv4Net>,
    pub gateway: Option<Ipv4Addr>,
    /// Bridge interface name; `kbr-<id>` when `None`.
    pub bridge: Option<String>,
    pub internal: bool,
    /// Inter-container communication (Docker's default: on).
    pub icc: bool,
}

impl CreateNetwork {
    pub fn new(name: impl Into<String>) -> CreateNetwork {
        CreateNetwork {
            name: name.into(),
            icc: true,
            ..Default::default()
        }
    }
}

pub struct NetworkManager {
    pub(crate) config: ManagerConfig,
    pub(crate) store: Store,
    pub(crate) firewall: Firewall,
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// Interface names go into nft scripts unquoted-safe and must fit IFNAMSIZ.
pub(crate) fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn new_id(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    hex::encode(Sha256::digest(format!(
        "{name}\0{nanos}\0{}",
        std::process::id()
    )))
}

impl NetworkManager {
    /// Opens (creating when needed) the state under `config.root`. Touches no kernel state.
    pub fn open(config: ManagerConfig) -> Result<NetworkManager, ManagerError> {
        let store = Store::open(&config.root)?;
        let firewall = Firewall::new(config.firewall_table.clone());
        Ok(NetworkManager {
            config,
            store,
            firewall,
        })
    }

    pub fn config(&self) -> &ManagerConfig {
        &self.config
    }

    pub fn firewall(&self) -> &Firewall {
        &self.firewall
    }

    /// Creates a bridge network: validates, picks or checks the subnet, creates the bridge
    /// and installs the rules. Nothing is kept when any step fails.
    pub fn create(&self, req: &CreateNetwork) -> Result<Network, ManagerError> {
        self.store.update(|state| self.create_locked(state, req))
    }

    pub(crate) fn create_locked(
        &self,
        state: &mut State,
        req: &CreateNetwork,
    ) -> Result<Network, ManagerError> {
        if !valid_name(&req.name) {
            return Err(ManagerError::BadName(req.name.clone()));
        }
        if state.networks.contains_key(&req.name) {
            return Err(ManagerError::Exists(req.name.clone()));
        }
        let id = new_id(&req.name);
        let bridge = match &req.bridge {
            Some(b) => b.clone(),
            None if req.name == self.config.default_network => self.config.default_bridge.clone(),
            None => format!("kbr-{}", &id[..11]),
        };
        if !valid_ifname(&bridge) {
            return Err(ManagerError::BadBridge(bridge));
        }
        if let Some(other) = state.networks.values().find(|n| n.bridge == bridge) {
            return Err(ManagerError::BridgeTaken {
                bridge,
                network: other.name.clone(),
            });
        }
        let ours: Vec<Ipv4Net> = state.networks.values().map(|n| n.subnet).collect();
        // A route through the very bridge being (re)created is ours, not the host's: a kiln0
        // left from an earlier run must not push the default network off its subnet.
        let host: Vec<Ipv4Net> = subnet::host_routes()?
            .into_iter()
            .filter(|r| r.iface != bridge)
            .map(|r| r.dest)
            .collect();
        let subnet = match req.subnet.or(if req.name == self.config.default_network {
            self.config.default_subnet
        } else {
            None
        }) {
            Some(s) => {
                let s = s.trunc();
                if let Some(n) = state
                    .networks
                    .values()
                    .find(|n| subnet::overlaps(&n.subnet, &s))
                {
                    return Err(ManagerError::Overlap {
                        subnet: s,
                        other: format!("network {} ({})", n.name, n.subnet),
                    });
                }
                if let Some(r) = host.iter().find(|r| subnet::overlaps(r, &s)) {
                    return Err(ManagerError::Overlap {
                        subnet: s,
                        other: format!("host route {r}"),
                    });
                }
                s
            }
            None => {
                let taken: Vec<Ipv4Net> = ours.iter().chain(&host).copied().collect();
                subnet::pick(&subnet::default_candidates(), &taken)?
            }
        };
        let gateway = match req.gateway {
            Some(g) => {
                ipam::check_gateway(&subnet, g)?;
                g
            }
            None => ipam::default_gateway(&subnet)?,
        };
        let net = Network {
            name: req.name.clone(),
            id,
            driver: "bridge".into(),
            bridge: bridge.clone(),
            subnet,
            gateway,
            internal: req.internal,
            icc: req.icc,
            created: now(),
            last_allocated: None,
            endpoints: Default::default(),
        };
        let existed = netlink::link_exists(&bridge)?;
        netlink::ensure_bridge(&bridge, gateway, subnet.prefix_len())?;
        state.networks.insert(net.name.clone(), net.clone());
        let applied = self
            .firewall
            .apply(state)
            .map_err(ManagerError::from)
            .and_then(|()| {
                if self.config.ip_forward && !req.internal {
                    firewall::enable_ip_forward()?;
                }
                Ok(())
            });
        if let Err(e) = applied {
            state.networks.remove(&net.name);
            if !existed {
                let _ = netlink::delete_link(&bridge);
            }
            return Err(e);
        }
        tracing::info!(network = %net.name, bridge = %bridge, subnet = %net.subnet, "created network");
        Ok(net)
    }

    /// All networks, sorted by name.
    pub fn list(&self) -> Result<Vec<Network>, ManagerError> {
        Ok(self.store.read()?.networks.into_values().collect())
    }

    /// A network by name, or by a unique prefix of its id.
    pub fn inspect(&self, name_or_id: &str) -> Result<Network, ManagerError> {
        let state = self.store.read()?;
        find(&state, name_or_id).cloned()
    }

    /// Removes a network without endpoints: its bridge, its rules and its record.
    pub fn remove(&self, name_or_id: &str) -> Result<(), ManagerError> {
        self.store.update(|state| {
            let net = find(state, name_or_id)?.clone();
            if !net.endpoints.is_empty() {
                let containers: Vec<&str> = net
                    .endpoints
                    .values()
                    .map(|e| e.container_name.as_str())
                    .collect();
                return Err(ManagerError::InUse {
                    name: net.name.clone(),
                    containers: containers.join(", "),
                });
            }
            state.networks.remove(&net.name);
            self.firewall.apply(state)?;
            netlink::delete_link(&net.bridge)?;
            tracing::info!(network = %net.name, "removed network");
            Ok(())
        })
    }

    /// The default network, created on first use.
    pub fn ensure_default(&self) -> Result<Network, ManagerError> {
        self.store.update(|state| self.ensure_default_locked(state))
    }

    pub(crate) fn ensure_default_locked(&self, state: &mut State) -> Result<Network, ManagerError> {
        match state.networks.get(&self.config.default_network) {
            Some(n) => Ok(n.clone()),
            None => {
                let mut req = CreateNetwork::new(self.config.default_network.clone());
                req.icc = self.config.default_icc;
                self.create_locked(state, &req)
            }
        }
    }

    /// Recreates what a reboot wipes (bridges, rules) from the stored state, and releases
    /// the endpoints of containers that died without being detached (their veth went with
    /// their namespace). Returns the released (network, container id) pairs. Run it when
    /// kiln's daemon or first command after boot starts.
    pub fn restore(&self) -> Result<Vec<(String, String)>, ManagerError> {
        self.store.update(|state| {
            let mut released = Vec::new();
            for net in state.networks.values_mut() {
                netlink::ensure_bridge(&net.bridge, net.gateway, net.subnet.prefix_len())?;
                let mut gone = Vec::new();
                for (id, ep) in &net.endpoints {
                    if !netlink::link_exists(&ep.host_veth)? {
                        gone.push(id.clone());
                    }
                }
                for id in gone {
                    net.endpoints.remove(&id);
                    tracing::info!(network = %net.name, container = %id, "released endpoint of a vanished container");
                    released.push((net.name.clone(), id));
                }
            }
            for (network, id) in &released {
                if !state.networks.values().any(|n| n.endpoints.contains_key(id)) {
                    state.containers.remove(id);
                }
                self.refresh_hosts(state, id, network, false)?;
            }
            self.firewall.apply(state)?;
            Ok(released)
        })
    }
}

pub(crate) fn find<'a>(state: &'a State, name_or_id: &str) -> Result<&'a Network, ManagerError> {
    if let Some(n) = state.networks.get(name_or_id) {
        return Ok(n);
    }
    let mut by_id = state
        .networks
        .values()
        .filter(|n| !name_or_id.is_empty() && n.id.starts_with(name_or_id));
    match (by_id.next(), by_id.next()) {
        (Some(n), None) => Ok(n),
        _ => Err(ManagerError::NotFound(name_or_id.to_string())),
    }
}
