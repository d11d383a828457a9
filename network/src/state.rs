//! The persisted shape of networking state: networks, their endpoints and per-container
//! name-resolution settings. One JSON document, rewritten atomically by `store`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// Everything kiln knows about its networks.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// Keyed by network name.
    pub networks: BTreeMap<String, Network>,
    /// Keyed by container id: settings shared by all of a container's endpoints.
    pub containers: BTreeMap<String, ContainerRecord>,
}

/// A bridge network (`kiln network inspect`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub name: String,
    /// 64 hex digits, unique per creation.
    pub id: String,
    /// Always "bridge" for now.
    pub driver: String,
    /// The host interface that is the network's switch and gateway.
    pub bridge: String,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    /// No route out: traffic may not leave the bridge, and no masquerade rule is installed.
    pub internal: bool,
    /// Inter-container communication; when false, containers on the bridge reach each other
    /// only through links (published ports go through the host and are unaffected).
    pub icc: bool,
    /// Seconds since the Unix epoch.
    pub created: u64,
    /// The last address handed out, so allocation goes round-robin instead of reusing a
    /// just-freed address whose stale ARP entries may still sit in peers' caches.
    #[serde(default)]
    pub last_allocated: Option<Ipv4Addr>,
    /// Keyed by container id.
    #[serde(default)]
    pub endpoints: BTreeMap<String, Endpoint>,
}

/// A container's attachment to one network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub container_id: String,
    pub container_name: String,
    /// Extra names the container answers to on this network (`--network-alias`).
    pub aliases: Vec<String>,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Ipv4Addr,
    pub mac: String,
    /// The host end of the veth pair.
    pub host_veth: String,
    /// The interface name inside the container (eth0, eth1, ...).
    pub ifname: String,
    /// The network namespace file the endpoint was attached to.
    pub netns: PathBuf,
}

/// Settings of a container that shape its managed hosts file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub name: String,
    pub hostname: String,
    /// The container's hosts file on the host (bind-mounted as /etc/hosts by the runtime);
    /// kiln rewrites it in place when peers on its user networks come and go.
    pub hosts_file: Option<PathBuf>,
    /// `--add-host name:ip` entries.
    pub extra_hosts: Vec<(String, IpAddr)>,
    /// Entries for `--link` targets: address and the names it answers to.
    pub link_hosts: Vec<(IpAddr, Vec<String>)>,
}
