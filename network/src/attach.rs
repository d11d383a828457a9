//! Attaching containers to networks and detaching them (veth, address, records).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::ipam;
use crate::manager::{find, ManagerError, NetworkManager};
use crate::netlink::{self, VethSpec};
use crate::peers::short;
use crate::state::{ContainerRecord, Endpoint, State};

/// A container joining a network (`kiln run --network`, `kiln network connect`).
#[derive(Debug, Clone, Default)]
pub struct AttachRequest {
    pub container_id: String,
    pub container_name: String,
    pub hostname: String,
    /// The container's network namespace: `/proc/<pid>/ns/net` or a bind-mounted nsfs file.
    pub netns: PathBuf,
    /// Network name or id; the default network when empty.
    pub network: String,
    /// Extra names on this network only (`--network-alias` for the first network,
    /// `network connect --alias`); ignored on the default network.
    pub aliases: Vec<String>,
    /// `--ip`.
    pub ip: Option<Ipv4Addr>,
    /// `--mac-address`; derived from the address (02:42 + IPv4 bytes) when `None`.
    pub mac: Option<[u8; 6]>,
    /// Container-wide settings, taken from the container's first attachment:
    /// the managed hosts file, `--add-host` entries and `--link name:alias` pairs.
    pub hosts_file: Option<PathBuf>,
    pub extra_hosts: Vec<(String, IpAddr)>,
    pub links: Vec<(String, String)>,
}

/// A resolved `--link`: the runtime feeds it to `links::link_env` with the target's
/// exposed ports and environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedLink {
    pub name: String,
    pub alias: String,
    pub container_id: String,
    pub ip: Ipv4Addr,
}

/// The result of an attachment.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub network: String,
    pub endpoint: Endpoint,
    pub links: Vec<ResolvedLink>,
}

/// Parses `--mac-address`.
pub fn parse_mac(s: &str) -> Result<[u8; 6], ManagerError> {
    let bad = || ManagerError::BadMac(s.to_string());
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut mac = [0u8; 6];
    for (b, p) in mac.iter_mut().zip(parts) {
        if p.len() != 2 {
            return Err(bad());
        }
        *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    // Multicast MACs cannot be an interface's address.
    if mac[0] & 1 == 1 {
        return Err(bad());
    }
    Ok(mac)
}

fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl NetworkManager {
    /// Connects a container: allocates its address, creates and configures its veth
    /// (eth0 for the first network, which also gets the default route; eth1, ... after),
    /// records the endpoint and updates hosts files and, for `icc=false` networks, rules.
    pub fn attach(&self, req: &AttachRequest) -> Result<Attachment, ManagerError> {
        self.store.update(|state| {
            let name = if req.network.is_empty() || req.network == self.config.default_network {
                self.ensure_default_locked(state)?.name
            } else {
                find(state, &req.network)?.name.clone()
            };
            let result = self.attach_locked(state, req, &name);
            if result.is_err() {
                // The state is not saved on error; the kernel side was already undone.
                tracing::warn!(container = %req.container_id, network = %name, "attach failed");
            }
            result
        })
    }

    fn attach_locked(
        &self,
        state: &mut State,
        req: &AttachRequest,
        name: &str,
    ) -> Result<Attachment, ManagerError> {
        let net = state
            .networks
            .get(name)
            .cloned()
            .ok_or_else(|| ManagerError::NotFound(name.to_string()))?;
        if net.endpoints.contains_key(&req.container_id) {
            return Err(ManagerError::AlreadyAttached {
                container: req.container_id.clone(),
                network: name.to_string(),
            });
        }
        // Links resolve to containers on the same network (legacy links live on `bridge`).
        let mut links = Vec::new();
        for (target, alias) in &req.links {
            let ep = net
                .endpoints
                .values()
                .find(|e| e.container_name == *target || e.container_id == *target)
                .ok_or_else(|| ManagerError::LinkTarget(target.clone(), name.to_string()))?;
            links.push(ResolvedLink {
                name: ep.container_name.clone(),
                alias: alias.clone(),
                container_id: ep.container_id.clone(),
                ip: ep.ip,
            });
        }
        let used: BTreeSet<Ipv4Addr> = net.endpoints.values().map(|e| e.ip).collect();
        let ip = ipam::allocate(&net.subnet, net.gateway, &used, net.last_allocated, req.ip)?;
        let taken: BTreeSet<String> = state
            .networks
            .values()
            .filter_map(|n| n.endpoints.get(&req.container_id).map(|e| e.ifname.clone()))
            .collect();
        let ifname = (0..)
            .map(|i| format!("eth{i}"))
            .find(|n| !taken.contains(n))
            .unwrap_or_default();
        let tag = hex::encode(Sha256::digest(format!("{}\0{}", req.container_id, net.id)));
        let o = ip.octets();
        let mac = req.mac.unwrap_or([0x02, 0x42, o[0], o[1], o[2], o[3]]);
        let spec = VethSpec {
            host: format!("kv{}", &tag[..11]),
            bridge: net.bridge.clone(),
            netns: req.netns.clone(),
            ifname: ifname.clone(),
            ip,
            prefix: net.subnet.prefix_len(),
            mac,
            default_gateway: (ifname == "eth0").then_some(net.gateway),
        };
        // The bridge vanishes on reboot while the state survives.
        netlink::ensure_bridge(&net.bridge, net.gateway, net.subnet.prefix_len())?;
        netlink::attach_veth(&spec)?;
        // The default network has no names (as Docker's `bridge`), so aliases mean nothing
        // there; Docker drops them too.
        let aliases = if name == self.config.default_network {
            if !req.aliases.is_empty() {
                tracing::info!(container = %req.container_id, aliases = ?req.aliases, "network aliases ignored on the default network");
            }
            Vec::new()
        } else {
            req.aliases.clone()
        };
        let endpoint = Endpoint {
            container_id: req.container_id.clone(),
            container_name: req.container_name.clone(),
            aliases,
            ip,
            prefix_len: net.subnet.prefix_len(),
            gateway: net.gateway,
            mac: format_mac(&mac),
            host_veth: spec.host.clone(),
            ifname,
            netns: req.netns.clone(),
        };
        if let Some(n) = state.networks.get_mut(name) {
            n.endpoints
                .insert(req.container_id.clone(), endpoint.clone());
            n.last_allocated = Some(ip);
        }
        let record = state
            .containers
            .entry(req.container_id.clone())
            .or_insert_with(|| ContainerRecord {
                name: req.container_name.clone(),
                hostname: if req.hostname.is_empty() {
                    short(&req.container_id).to_string()
                } else {
                    req.hostname.clone()
                },
                hosts_file: req.hosts_file.clone(),
                extra_hosts: req.extra_hosts.clone(),
                link_hosts: Vec::new(),
            });
        for l in &links {
            let names = if l.alias == l.name {
                vec![l.alias.clone()]
            } else {
                vec![l.alias.clone(), l.name.clone()]
            };
            record.link_hosts.push((IpAddr::V4(l.ip), names));
        }
        let finish = (|| {
            if !net.icc {
                self.firewall.apply(state)?;
            }
            self.refresh_hosts(state, &req.container_id, name, true)
        })();
        if let Err(e) = finish {
            let _ = netlink::delete_link(&spec.host);
            return Err(e);
        }
        tracing::info!(container = %req.container_id, network = name, %ip, "attached");
        Ok(Attachment {
            network: name.to_string(),
            endpoint,
            links,
        })
    }

    /// Disconnects a container from one network, releasing its address. Succeeds when the
    /// container's namespace is already gone (its veth went with it).
    pub fn detach(&self, container_id: &str, network: &str) -> Result<(), ManagerError> {
        self.store
            .update(|state| self.detach_locked(state, container_id, network, true))
    }

    /// `delete_link`: remove the host side of the veth now; false when the container's
    /// namespace is already released and the kernel removes the pair with it.
    fn detach_locked(
        &self,
        state: &mut State,
        container_id: &str,
        network: &str,
        delete_link: bool,
    ) -> Result<(), ManagerError> {
        let name = find(state, network)?.name.clone();
        let Some(net) = state.networks.get_mut(&name) else {
            return Err(ManagerError::NotFound(network.to_string()));
        };
        let Some(ep) = net.endpoints.remove(container_id) else {
            return Err(ManagerError::NotAttached {
                container: container_id.to_string(),
                network: name,
            });
        };
        let icc = net.icc;
        if delete_link {
            netlink::delete_link(&ep.host_veth)?;
        }
        if !icc {
            self.firewall.apply(state)?;
        }
        self.refresh_hosts(state, container_id, &name, false)?;
        if !state
            .networks
            .values()
            .any(|n| n.endpoints.contains_key(container_id))
        {
            state.containers.remove(container_id);
        }
        tracing::info!(container = %container_id, network = %name, "detached");
        Ok(())
    }

    /// Disconnects a container from every network (container stop/removal).
    pub fn detach_all(&self, container_id: &str) -> Result<(), ManagerError> {
        self.detach_every(container_id, true)
    }

    /// [`Self::detach_all`] for a container whose network namespace has already been
    /// released (no process in it, its pin unmounted): the kernel removes the veth pairs
    /// with the namespace in the background, so only addresses, records, hosts files and
    /// rules change here. Spares the synchronous link deletion (an RCU wait of ~10 ms).
    pub fn release_all(&self, container_id: &str) -> Result<(), ManagerError> {
        self.detach_every(container_id, false)
    }

    fn detach_every(&self, container_id: &str, delete_links: bool) -> Result<(), ManagerError> {
        self.store.update(|state| {
            let names: Vec<String> = state
                .networks
                .values()
                .filter(|n| n.endpoints.contains_key(container_id))
                .map(|n| n.name.clone())
                .collect();
            for n in names {
                self.detach_locked(state, container_id, &n, delete_links)?;
            }
            Ok(())
        })
    }

    /// The container's endpoints, by network name (for `inspect`'s NetworkSettings).
    pub fn endpoints(&self, container_id: &str) -> Result<Vec<(String, Endpoint)>, ManagerError> {
        let state = self.store.read()?;
        Ok(state
            .networks
            .values()
            .filter_map(|n| {
                n.endpoints
                    .get(container_id)
                    .map(|e| (n.name.clone(), e.clone()))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_parsing() {
        assert_eq!(
            parse_mac("02:42:ac:11:00:02").unwrap(),
            [2, 0x42, 0xac, 0x11, 0, 2]
        );
        assert!(parse_mac("02:42:ac:11:00").is_err());
        assert!(parse_mac("01:00:5e:00:00:01").is_err());
        assert!(parse_mac("zz:42:ac:11:00:02").is_err());
        assert_eq!(
            format_mac(&[2, 0x42, 0xac, 0x11, 0, 2]),
            "02:42:ac:11:00:02"
        );
    }
}
