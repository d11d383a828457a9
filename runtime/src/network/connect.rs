//! `kiln network connect|disconnect`: a running container gets (or loses) a veth at once;
//! either way its configuration remembers the change for its next start.

use super::{netns, NetError, NetMode};
use crate::config::ContainerPaths;
use crate::record::{self, ContainerRecord};
use kiln_cache::Store;
use kiln_network::AttachRequest;
use std::net::Ipv4Addr;

fn bridged(rec: &ContainerRecord) -> Result<(), NetError> {
    if rec.config.net.mode != NetMode::Bridge {
        return Err(NetError::NotBridged {
            id: rec.id.clone(),
            mode: rec.config.net.mode_name(rec.config.network_host),
        });
    }
    Ok(())
}

/// Connects `rec` to `network` (name or id prefix). Returns the network's name.
pub fn connect(
    store: &Store,
    rec: &ContainerRecord,
    network: &str,
    aliases: &[String],
    ip: Option<Ipv4Addr>,
) -> Result<String, NetError> {
    bridged(rec)?;
    let root = store.root();
    let mgr = super::manager(root)?;
    let name = mgr.inspect(network)?.name;
    let default = mgr.config().default_network.clone();
    let mut cfg = rec.config.clone();
    if cfg.net.networks.is_empty() {
        cfg.net.networks.push(default);
    }
    if cfg.net.networks.contains(&name) {
        return Err(kiln_network::ManagerError::AlreadyAttached {
            container: rec.name.clone(),
            network: name,
        }
        .into());
    }
    let ns = netns::path(root, &rec.id);
    if rec.pid > 0 && netns::is_mounted(&ns) {
        mgr.attach(&AttachRequest {
            container_id: rec.id.clone(),
            container_name: rec.name.clone(),
            hostname: rec.config.hostname.clone().unwrap_or_default(),
            netns: ns,
            network: name.clone(),
            aliases: aliases.to_vec(),
            ip,
            hosts_file: Some(ContainerPaths::new(root, &rec.id).dir.join("hosts")),
            ..Default::default()
        })?;
    }
    cfg.net.networks.push(name.clone());
    record::set_config(store.db(), &rec.id, &cfg)?;
    Ok(name)
}

/// Disconnects `rec` from `network`. Returns the network's name.
pub fn disconnect(store: &Store, rec: &ContainerRecord, network: &str) -> Result<String, NetError> {
    bridged(rec)?;
    let root = store.root();
    let mgr = super::manager(root)?;
    let name = mgr.inspect(network)?.name;
    let default = mgr.config().default_network.clone();
    let mut cfg = rec.config.clone();
    if cfg.net.networks.is_empty() {
        cfg.net.networks.push(default);
    }
    let attached = mgr.endpoints(&rec.id)?.iter().any(|(n, _)| *n == name);
    if !cfg.net.networks.contains(&name) && !attached {
        return Err(kiln_network::ManagerError::NotAttached {
            container: rec.name.clone(),
            network: name,
        }
        .into());
    }
    if attached {
        mgr.detach(&rec.id, &name)?;
    }
    cfg.net.networks.retain(|n| *n != name);
    if cfg.net.networks.is_empty() {
        // Docker leaves such a container with only loopback.
        cfg.net.mode = NetMode::None;
    }
    record::set_config(store.db(), &rec.id, &cfg)?;
    Ok(name)
}
