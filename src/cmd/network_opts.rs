//! The networking flags of `kiln create` and `kiln run` (`-p`, `-P`, `--link`, `--dns`, ...)
//! and turning them into the runtime's [`NetConfig`].

use anyhow::{bail, Context};
use clap::Args;
use kiln_network::{links, ports};
use kiln_runtime::network::{NetConfig, NetMode};

#[derive(Debug, Args, Clone, Default, PartialEq)]
pub struct NetFlags {
    /// Publish a container port: [ip:][hostPort:]containerPort[/udp] (ranges allowed)
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Publish every exposed port on an ephemeral host port
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose a port or range without publishing it: 80, 8000-8010/udp
    #[arg(long = "expose")]
    pub expose: Vec<String>,
    /// Link to another container: name[:alias] (hosts entry and legacy env variables)
    #[arg(long = "link")]
    pub link: Vec<String>,
    /// DNS server for the container's resolv.conf
    #[arg(long = "dns")]
    pub dns: Vec<String>,
    /// DNS search domain
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// resolv.conf option (e.g. ndots:2)
    #[arg(long = "dns-option")]
    pub dns_option: Vec<String>,
    /// IPv4 address on the container's first network
    #[arg(long = "ip")]
    pub ip: Option<String>,
    /// MAC address of the container's first interface (02:42:ac:11:00:02)
    #[arg(long = "mac-address")]
    pub mac_address: Option<String>,
    /// Extra name of the container on the network given by --network (not the default bridge)
    #[arg(long = "network-alias")]
    pub network_alias: Vec<String>,
}

impl NetFlags {
    /// The container's networking for `--network value` and these flags.
    pub fn to_config(&self, network: &str) -> anyhow::Result<NetConfig> {
        let mut c = NetConfig::default();
        c.set_mode(network);
        for p in &self.publish {
            c.publish
                .extend(ports::parse_publish(p).with_context(|| format!("-p {p}"))?);
        }
        c.publish_all = self.publish_all;
        for e in &self.expose {
            c.exposed
                .extend(ports::parse_expose(e).with_context(|| format!("--expose {e}"))?);
        }
        // Published ports are exposed too (Docker lists them in Config.ExposedPorts).
        for p in &c.publish {
            if !c.exposed.contains(&(p.container_port, p.proto)) {
                c.exposed.push((p.container_port, p.proto));
            }
        }
        c.links = self.link.iter().map(|l| links::parse_link(l)).collect();
        for d in &self.dns {
            c.dns.push(
                d.parse()
                    .with_context(|| format!("invalid --dns {d:?}: not an IP address"))?,
            );
        }
        c.dns_search = self.dns_search.clone();
        c.dns_options = self.dns_option.clone();
        if let Some(ip) = &self.ip {
            c.ip = Some(
                ip.parse()
                    .with_context(|| format!("invalid --ip {ip:?}: not an IPv4 address"))?,
            );
        }
        if let Some(m) = &self.mac_address {
            kiln_network::parse_mac(m)?;
            c.mac = Some(m.clone());
        }
        c.aliases = self.network_alias.clone();
        let bridged = c.mode == NetMode::Bridge;
        if !bridged {
            let what = if !c.publish.is_empty() || c.publish_all {
                Some("published ports (-p, -P)")
            } else if !c.links.is_empty() {
                Some("--link")
            } else if c.ip.is_some() || c.mac.is_some() {
                Some("--ip and --mac-address")
            } else {
                None
            };
            if let Some(what) = what {
                bail!("{what} need a bridge network, not --network {network}");
            }
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_become_the_runtime_config() {
        let f = NetFlags {
            publish: vec!["127.0.0.1:8080:80".into(), "53/udp".into()],
            expose: vec!["9000-9001".into()],
            link: vec!["db:database".into()],
            dns: vec!["10.0.0.2".into()],
            ip: Some("10.1.0.9".into()),
            ..Default::default()
        };
        let c = f.to_config("bridge").unwrap();
        assert_eq!(c.mode, NetMode::Bridge);
        assert_eq!(c.publish.len(), 2);
        assert_eq!(c.exposed.len(), 4);
        assert_eq!(c.links, vec![("db".into(), "database".into())]);
        assert!(f.to_config("none").is_err());
        assert!(f.to_config("host").is_err());
        let bad = NetFlags {
            dns: vec!["nope".into()],
            ..Default::default()
        };
        assert!(bad.to_config("bridge").is_err());
    }
}
