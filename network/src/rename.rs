//! Renaming a container on its networks (`kiln rename`): its endpoints and record carry the
//! new name, and the hosts files of everything sharing a user network with it are rewritten,
//! so peers resolve the new name, and no longer the old one, at once.

use crate::manager::{ManagerError, NetworkManager};

impl NetworkManager {
    /// Gives container `container_id` the name `new_name` on every network it is attached to
    /// and refreshes the hosts files concerned. Returns the names of those networks: none for
    /// a container without endpoints (a stopped one), which then has nothing to update here.
    pub fn rename_container(
        &self,
        container_id: &str,
        new_name: &str,
    ) -> Result<Vec<String>, ManagerError> {
        // A read first: an update takes the exclusive lock, and most renamed containers are
        // not running.
        let state = self.store.read()?;
        let attached = state
            .networks
            .values()
            .any(|n| n.endpoints.contains_key(container_id));
        if !attached && !state.containers.contains_key(container_id) {
            return Ok(Vec::new());
        }
        self.store.update(|state| {
            let mut networks = Vec::new();
            for net in state.networks.values_mut() {
                if let Some(ep) = net.endpoints.get_mut(container_id) {
                    ep.container_name = new_name.to_string();
                    networks.push(net.name.clone());
                }
            }
            if let Some(rec) = state.containers.get_mut(container_id) {
                rec.name = new_name.to_string();
            }
            // Peers are refreshed per network; the container's own file is rewritten on each
            // pass, which is cheap and keeps one code path for both.
            for n in &networks {
                self.refresh_hosts(state, container_id, n, false)?;
            }
            tracing::info!(container = %container_id, name = new_name, networks = ?networks, "renamed on networks");
            Ok(networks)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::ManagerConfig;
    use crate::state::{ContainerRecord, Endpoint, Network, State};
    use std::net::Ipv4Addr;
    use std::path::Path;

    fn network(name: &str, third: u8) -> Network {
        Network {
            name: name.into(),
            id: format!("{name:0>64}"),
            driver: "bridge".into(),
            bridge: format!("br-{name}"),
            subnet: format!("10.99.{third}.0/24").parse().unwrap(),
            gateway: Ipv4Addr::new(10, 99, third, 1),
            internal: false,
            icc: true,
            created: 0,
            last_allocated: None,
            endpoints: Default::default(),
        }
    }

    /// Puts container `id` named `name` on `net` at .`host`, with its hosts file in `dir`.
    fn join(state: &mut State, dir: &Path, net: &str, id: &str, name: &str, host: u8) {
        let n = state.networks.get_mut(net).unwrap();
        let o = n.gateway.octets();
        n.endpoints.insert(
            id.into(),
            Endpoint {
                container_id: id.into(),
                container_name: name.into(),
                aliases: Vec::new(),
                ip: Ipv4Addr::new(o[0], o[1], o[2], host),
                prefix_len: 24,
                gateway: n.gateway,
                mac: String::new(),
                host_veth: format!("kv{id}"),
                ifname: "eth0".into(),
                netns: dir.join("ns"),
            },
        );
        state
            .containers
            .entry(id.into())
            .or_insert_with(|| ContainerRecord {
                name: name.into(),
                hostname: id.into(),
                hosts_file: Some(dir.join(format!("{id}.hosts"))),
                extra_hosts: Vec::new(),
                link_hosts: Vec::new(),
            });
    }

    fn names_in(dir: &Path, id: &str) -> Vec<String> {
        std::fs::read_to_string(dir.join(format!("{id}.hosts")))
            .unwrap_or_default()
            .lines()
            .flat_map(|l| l.split_whitespace().skip(1).map(String::from))
            .collect()
    }

    #[test]
    fn rename_updates_records_and_every_peers_hosts_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mgr = NetworkManager::open(ManagerConfig::new(d)).unwrap();
        mgr.store
            .update(|state| {
                state.networks.insert("front".into(), network("front", 1));
                state.networks.insert("back".into(), network("back", 2));
                join(state, d, "front", "aaa", "web", 2);
                join(state, d, "back", "aaa", "web", 2);
                join(state, d, "front", "bbb", "client", 3);
                join(state, d, "back", "ccc", "worker", 3);
                Ok::<_, ManagerError>(())
            })
            .unwrap();
        let mut nets = mgr.rename_container("aaa", "api").unwrap();
        nets.sort();
        assert_eq!(nets, ["back", "front"]);
        let state = mgr.store.read().unwrap();
        for n in ["front", "back"] {
            assert_eq!(state.networks[n].endpoints["aaa"].container_name, "api");
        }
        assert_eq!(state.containers["aaa"].name, "api");
        // Peers on both networks see the new name and no longer the old one.
        for peer in ["bbb", "ccc"] {
            let names = names_in(d, peer);
            assert!(names.contains(&"api".to_string()), "{peer}: {names:?}");
            assert!(!names.contains(&"web".to_string()), "{peer}: {names:?}");
        }
        let own = names_in(d, "aaa");
        assert!(own.contains(&"api".to_string()), "{own:?}");
        assert!(!own.contains(&"web".to_string()), "{own:?}");
    }

    #[test]
    fn rename_of_a_container_without_endpoints_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mgr = NetworkManager::open(ManagerConfig::new(dir.path())).unwrap();
        assert!(mgr.rename_container("nosuch", "x").unwrap().is_empty());
        // No state was written for nothing.
        assert!(!dir.path().join("network/state.json").exists());
    }
}
