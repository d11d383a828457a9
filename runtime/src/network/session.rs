//! What a container's monitor holds while the container runs: its network namespace with
//! veths on its networks, its managed hosts and resolv.conf files, the link variables for
//! its environment, and the userland proxy of its published ports. Dropping the session
//! tears the networking down.

use super::{netns, NetConfig, NetError, NetMode};
use crate::config::ContainerPaths;
use crate::record::{self, ContainerRecord};
use kiln_cache::Db;
use kiln_executor::{ContainerSpec, Mount, MountKind, NetworkMode};
use kiln_network::hosts::{self, DnsConfig};
use kiln_network::links::{self, LinkTarget};
use kiln_network::{AttachRequest, PortProxy};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

pub struct Session {
    root: PathBuf,
    id: String,
    network: Option<NetworkMode>,
    mounts: Vec<Mount>,
    env: Vec<String>,
    proxy: Option<PortProxy>,
    /// Whether this session made the namespace and endpoints (and so removes them).
    owned: bool,
}

fn bind(dest: &str, source: PathBuf) -> Mount {
    Mount {
        destination: dest.into(),
        kind: MountKind::Bind { source },
        readonly: false,
    }
}

fn write(path: &Path, text: &str) -> Result<(), NetError> {
    std::fs::write(path, text).map_err(|source| NetError::Write {
        path: path.to_path_buf(),
        source,
    })
}

impl Session {
    /// Prepares the networking of `rec` before its first start. Must run inside `rt`'s
    /// context only for the proxy: it is started with `rt.block_on`.
    pub fn start(
        root: &Path,
        db: &Db,
        rec: &ContainerRecord,
        rt: &tokio::runtime::Runtime,
    ) -> Result<Session, NetError> {
        let mut s = Session {
            root: root.to_path_buf(),
            id: rec.id.clone(),
            network: None,
            mounts: Vec::new(),
            env: Vec::new(),
            proxy: None,
            owned: false,
        };
        let net = &rec.config.net;
        let paths = ContainerPaths::new(root, &rec.id);
        let dns_given =
            !(net.dns.is_empty() && net.dns_search.is_empty() && net.dns_options.is_empty());
        let resolv = paths.dir.join("resolv.conf");
        match &net.mode {
            NetMode::Legacy => {}
            NetMode::None | NetMode::Host => {
                if dns_given {
                    write(&resolv, &resolv_text(net))?;
                    s.mounts.push(bind("/etc/resolv.conf", resolv));
                }
            }
            NetMode::Container(target) => {
                let t = record::find(db, target)?;
                if t.pid <= 0 {
                    return Err(NetError::TargetNotRunning {
                        target: target.clone(),
                    });
                }
                let pinned = netns::path(root, &t.id);
                s.network = Some(NetworkMode::Join(if netns::is_mounted(&pinned) {
                    pinned
                } else {
                    PathBuf::from(format!("/proc/{}/ns/net", t.pid))
                }));
                // The same network, so the same names and resolver.
                let tdir = ContainerPaths::new(root, &t.id).dir;
                for f in ["hosts", "resolv.conf"] {
                    if tdir.join(f).exists() {
                        s.mounts.push(bind(&format!("/etc/{f}"), tdir.join(f)));
                    }
                }
            }
            NetMode::Bridge => {
                // Whatever a crashed earlier run left is replaced.
                super::teardown(root, &rec.id)?;
                s.owned = true;
                s.bridge(db, rec, &paths)?;
                let specs = net.port_specs();
                if !specs.is_empty() {
                    let target = super::endpoints(root, &rec.id)
                        .into_iter()
                        .find(|(_, e)| e.ifname == "eth0")
                        .map(|(_, e)| IpAddr::V4(e.ip));
                    if let Some(target) = target {
                        let proxy = rt.block_on(PortProxy::start(&specs, target))?;
                        let file = super::ports_file(root, &rec.id);
                        let json = serde_json::to_vec(proxy.bindings()).unwrap_or_default();
                        std::fs::write(&file, json)
                            .map_err(|source| NetError::Write { path: file, source })?;
                        s.proxy = Some(proxy);
                    }
                }
            }
        }
        Ok(s)
    }

    fn bridge(
        &mut self,
        db: &Db,
        rec: &ContainerRecord,
        paths: &ContainerPaths,
    ) -> Result<(), NetError> {
        let net = &rec.config.net;
        let root = self.root.clone();
        let ns = netns::path(&root, &rec.id);
        let hosts_file = paths.dir.join("hosts");
        let resolv = paths.dir.join("resolv.conf");
        write(&hosts_file, "")?;
        write(&resolv, &resolv_text(net))?;
        let mgr = super::manager(&root)?;
        super::ensure_default(&mgr)?;
        netns::create(&ns)?;
        let extra_hosts: Vec<(String, IpAddr)> = rec
            .config
            .extra_hosts
            .iter()
            .filter_map(|(n, a)| a.parse::<IpAddr>().ok().map(|ip| (n.clone(), ip)))
            .collect();
        let mac = match &net.mac {
            Some(m) => Some(kiln_network::parse_mac(m)?),
            None => None,
        };
        let networks = if net.networks.is_empty() {
            vec![String::new()]
        } else {
            net.networks.clone()
        };
        for (i, network) in networks.iter().enumerate() {
            let first = i == 0;
            let req = AttachRequest {
                container_id: rec.id.clone(),
                container_name: rec.name.clone(),
                hostname: rec.config.hostname.clone().unwrap_or_default(),
                netns: ns.clone(),
                network: network.clone(),
                aliases: super::connect::aliases_for(&rec.config, i, network),
                ip: if first { net.ip } else { None },
                mac: if first { mac } else { None },
                hosts_file: Some(hosts_file.clone()),
                extra_hosts: if first {
                    extra_hosts.clone()
                } else {
                    Vec::new()
                },
                links: if first { net.links.clone() } else { Vec::new() },
            };
            let att = mgr.attach(&req)?;
            for l in &att.links {
                let target = record::get(db, &l.container_id)?;
                let mut ports = target.config.net.exposed.clone();
                ports.extend(
                    target
                        .config
                        .net
                        .publish
                        .iter()
                        .map(|p| (p.container_port, p.proto)),
                );
                ports.sort();
                ports.dedup();
                self.env.extend(links::link_env(
                    &rec.name,
                    &LinkTarget {
                        name: l.name.clone(),
                        alias: l.alias.clone(),
                        ip: IpAddr::V4(l.ip),
                        ports,
                        env: target.config.env.clone(),
                    },
                ));
            }
        }
        self.network = Some(NetworkMode::Join(ns));
        self.mounts.push(bind("/etc/hosts", hosts_file));
        self.mounts.push(bind("/etc/resolv.conf", resolv));
        Ok(())
    }

    /// Points one start's spec at the prepared namespace and files.
    pub fn apply(&self, spec: &mut ContainerSpec) {
        if let Some(n) = &self.network {
            spec.network = n.clone();
        }
        spec.mounts.extend(self.mounts.iter().cloned());
        for e in &self.env {
            let key = e.split('=').next().unwrap_or_default();
            spec.process
                .env
                .retain(|x| x.split('=').next() != Some(key));
            spec.process.env.push(e.clone());
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Listeners close first, so nothing forwards to an address about to be reused.
        self.proxy.take();
        if self.owned {
            super::teardown_logged(&self.root, &self.id);
        }
    }
}

fn resolv_text(net: &NetConfig) -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    hosts::resolv_conf(
        &DnsConfig {
            servers: net.dns.clone(),
            search: net.dns_search.clone(),
            options: net.dns_options.clone(),
        },
        &host,
    )
}
