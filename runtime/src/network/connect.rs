//! `kiln network connect|disconnect`: a running container gets (or loses) a veth at once;
//! either way its configuration remembers the change for its next start.

use super::{netns, NetError, NetMode};
use crate::config::{ContainerConfig, ContainerPaths};
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

/// The aliases of the container on the `index`th of its networks, `network`: those given
/// by `network connect --alias` for it, else `--network-alias` on the first network only
/// (Docker scopes both to one network; the manager drops them on the default network).
pub fn aliases_for(cfg: &ContainerConfig, index: usize, network: &str) -> Vec<String> {
    match cfg.network_aliases.get(network) {
        Some(a) => a.clone(),
        None if index == 0 => cfg.net.aliases.clone(),
        None => Vec::new(),
    }
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
        cfg.net.networks.push(default.clone());
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
    // Kept for the next starts; the default network has no names, so none are kept for it.
    if !aliases.is_empty() && name != default {
        cfg.network_aliases.insert(name.clone(), aliases.to_vec());
    }
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
    // Aliases belong to the endpoint: connecting again later starts without them. The
    // `--network-alias` ones go with the first network, or the next would inherit them.
    cfg.network_aliases.remove(&name);
    let first = cfg
        .net
        .networks
        .first()
        .map(|n| mgr.inspect(n).map(|n| n.name));
    if matches!(first, Some(Ok(n)) if n == name) {
        cfg.net.aliases.clear();
    }
    cfg.net.networks.retain(|n| *n != name);
    if cfg.net.networks.is_empty() {
        // Docker leaves such a container with only loopback.
        cfg.net.mode = NetMode::None;
    }
    record::set_config(store.db(), &rec.id, &cfg)?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_scoped_to_one_network() {
        let mut cfg = ContainerConfig::default();
        cfg.net.networks = vec!["front".into(), "back".into(), "side".into()];
        cfg.net.aliases = vec!["www".into()];
        cfg.network_aliases
            .insert("back".into(), vec!["api".into(), "v1".into()]);
        // `--network-alias` goes to the first network only, connect aliases to theirs.
        assert_eq!(aliases_for(&cfg, 0, "front"), ["www"]);
        assert_eq!(aliases_for(&cfg, 1, "back"), ["api", "v1"]);
        assert!(aliases_for(&cfg, 2, "side").is_empty());
        // Connect aliases win even on the first network (after it was re-connected).
        cfg.network_aliases
            .insert("front".into(), vec!["web".into()]);
        assert_eq!(aliases_for(&cfg, 0, "front"), ["web"]);
    }
}
