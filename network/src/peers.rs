//! Managed hosts files: what each container's /etc/hosts says given the stored state, and
//! rewriting them when containers join or leave a user network. Name resolution between
//! containers uses these files rather than an embedded DNS server: nothing has to run for it
//! to work, a container that reads /etc/hosts sees a change at once, and there is no server
//! to crash or leak. The default network has no name resolution (as Docker's `bridge`);
//! `--link` adds entries there.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;

use crate::hosts::{self, HostEntry, HostsContent};
use crate::manager::{ManagerError, NetworkManager};
use crate::state::State;

pub(crate) fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// The hosts file of `container_id` as the state describes it.
pub(crate) fn hosts_content(
    state: &State,
    container_id: &str,
    default_network: &str,
) -> Option<(PathBuf, String)> {
    let record = state.containers.get(container_id)?;
    let path = record.hosts_file.clone()?;
    let mut c = HostsContent {
        extra: record
            .extra_hosts
            .iter()
            .map(|(n, ip)| HostEntry {
                ip: *ip,
                names: vec![n.clone()],
            })
            .collect(),
        links: record
            .link_hosts
            .iter()
            .map(|(ip, names)| HostEntry {
                ip: *ip,
                names: names.clone(),
            })
            .collect(),
        ..Default::default()
    };
    let mut seen = BTreeSet::new();
    for net in state.networks.values() {
        let Some(me) = net.endpoints.get(container_id) else {
            continue;
        };
        let mut names = vec![record.hostname.clone()];
        if record.name != record.hostname && net.name != default_network {
            names.push(record.name.clone());
        }
        c.own.push(HostEntry {
            ip: IpAddr::V4(me.ip),
            names,
        });
        if net.name == default_network {
            continue;
        }
        for peer in net
            .endpoints
            .values()
            .filter(|p| p.container_id != container_id)
        {
            if seen.insert((peer.ip, peer.container_id.clone())) {
                let mut names = vec![peer.container_name.clone()];
                names.extend(peer.aliases.iter().cloned());
                names.push(short(&peer.container_id).to_string());
                c.peers.push(HostEntry {
                    ip: IpAddr::V4(peer.ip),
                    names,
                });
            }
        }
    }
    Some((path, c.render()))
}

impl NetworkManager {
    /// Rewrites the hosts files of `container_id` (errors returned when `strict`, as on
    /// attach; logged on detach, where the container may be half torn down) and of every
    /// container sharing a user network with it (errors logged: a peer being torn down must
    /// not fail this container's start).
    pub(crate) fn refresh_hosts(
        &self,
        state: &State,
        container_id: &str,
        network: &str,
        strict: bool,
    ) -> Result<(), ManagerError> {
        let default = &self.config.default_network;
        if let Some((path, text)) = hosts_content(state, container_id, default) {
            match hosts::write_in_place(&path, &text) {
                Err(e) if strict => return Err(e.into()),
                Err(e) => {
                    tracing::warn!(container = %container_id, error = %e, "cannot update hosts file")
                }
                Ok(()) => {}
            }
        }
        if network == default.as_str() {
            return Ok(());
        }
        let Some(net) = state.networks.get(network) else {
            return Ok(());
        };
        for peer in net.endpoints.keys().filter(|p| p.as_str() != container_id) {
            if let Some((path, text)) = hosts_content(state, peer, default) {
                if let Err(e) = hosts::write_in_place(&path, &text) {
                    tracing::warn!(container = %peer, error = %e, "cannot update peer's hosts file");
                }
            }
        }
        Ok(())
    }
}
