//! `kiln network create|ls|inspect|rm|prune|connect|disconnect`: bridge networks of this
//! store, and attaching containers to them.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use kiln_network::{CreateNetwork, Network};
use kiln_runtime::{lifecycle, network as net};
use serde_json::{json, Value};

use super::container_opts::{for_each, open_store};
use super::format::print_table;
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct NetworkArgs {
    #[command(subcommand)]
    pub command: NetworkCommand,
}

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a bridge network; prints its id
    Create {
        /// Subnet in CIDR form (default: a free one from Docker's pool)
        #[arg(long)]
        subnet: Option<String>,
        /// Gateway address (default: the subnet's first address)
        #[arg(long)]
        gateway: Option<String>,
        /// No route out of the network
        #[arg(long)]
        internal: bool,
        /// Driver options: com.docker.network.bridge.name=NAME,
        /// com.docker.network.bridge.enable_icc=false
        #[arg(short = 'o', long = "opt")]
        opt: Vec<String>,
        /// Driver (only bridge)
        #[arg(short = 'd', long, default_value = "bridge")]
        driver: String,
        name: String,
    },
    /// List networks
    Ls {
        /// Only ids
        #[arg(short = 'q', long)]
        quiet: bool,
    },
    /// Show networks as JSON
    Inspect {
        #[arg(required = true)]
        networks: Vec<String>,
        /// Go-template-like format, e.g. '{{range .IPAM.Config}}{{.Subnet}}{{end}}'
        #[arg(short = 'f', long)]
        format: Option<String>,
    },
    /// Remove networks (the default one too when idle: it is made again on demand)
    Rm {
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Remove every user network without containers
    Prune {
        /// Do not ask (kiln never asks; accepted for Docker compatibility)
        #[arg(short = 'f', long)]
        force: bool,
    },
    /// Connect a container to a network
    Connect {
        /// IPv4 address on this network
        #[arg(long)]
        ip: Option<String>,
        /// Extra name of the container on this network
        #[arg(long)]
        alias: Vec<String>,
        network: String,
        container: String,
    },
    /// Disconnect a container from a network
    Disconnect {
        /// Accepted for Docker compatibility
        #[arg(short = 'f', long)]
        force: bool,
        network: String,
        container: String,
    },
}

pub fn run(global: &GlobalArgs, args: NetworkArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    let root = store.root().to_path_buf();
    // A SIGKILLed foreground run's endpoint would keep `rm`/`prune` from removing networks.
    net::foreground::reclaim(&root);
    let mgr = net::manager(&root)?;
    match args.command {
        NetworkCommand::Create {
            subnet,
            gateway,
            internal,
            opt,
            driver,
            name,
        } => {
            if driver != "bridge" {
                bail!("network driver {driver:?} is not supported; kiln has bridge networks");
            }
            let mut req = CreateNetwork::new(name);
            req.internal = internal;
            if let Some(s) = subnet {
                let parsed = s.parse().with_context(|| {
                    format!("invalid --subnet {s:?}: use CIDR like 10.5.0.0/24")
                })?;
                req.subnet = Some(parsed);
            }
            if let Some(g) = gateway {
                let parsed = g
                    .parse()
                    .with_context(|| format!("invalid --gateway {g:?}: not an IPv4 address"))?;
                req.gateway = Some(parsed);
            }
            for o in &opt {
                match o.split_once('=') {
                    Some(("com.docker.network.bridge.name", v)) => req.bridge = Some(v.into()),
                    Some(("com.docker.network.bridge.enable_icc", v)) => {
                        req.icc = !matches!(v, "false" | "0")
                    }
                    _ => bail!("unsupported network option {o:?}: kiln knows com.docker.network.bridge.name and com.docker.network.bridge.enable_icc"),
                }
            }
            let n = {
                let _host = net::settings::host_lock()?;
                mgr.create(&req)?
            };
            println!("{}", n.id);
            Ok(0)
        }
        NetworkCommand::Ls { quiet } => {
            let nets = mgr.list()?;
            if quiet {
                for n in nets {
                    println!("{}", &n.id[..12.min(n.id.len())]);
                }
            } else {
                let rows: Vec<Vec<String>> = nets
                    .into_iter()
                    .map(|n| {
                        vec![
                            n.id.chars().take(12).collect(),
                            n.name,
                            n.driver,
                            "local".into(),
                        ]
                    })
                    .collect();
                print_table(&["NETWORK ID", "NAME", "DRIVER", "SCOPE"], &rows);
            }
            Ok(0)
        }
        NetworkCommand::Inspect { networks, format } => super::format::print_inspect(
            &networks,
            |n| Ok(inspect_value(&mgr.inspect(n)?)),
            format.as_deref(),
        ),
        NetworkCommand::Rm { networks } => for_each(&networks, |n| {
            let name = mgr.inspect(n)?.name;
            mgr.remove(&name)?;
            Ok(Some(n.to_string()))
        }),
        NetworkCommand::Prune { force: _ } => {
            let default = mgr.config().default_network.clone();
            let idle: Vec<String> = mgr
                .list()?
                .into_iter()
                .filter(|n| n.endpoints.is_empty() && n.name != default)
                .map(|n| n.name)
                .collect();
            if !idle.is_empty() {
                println!("Deleted Networks:");
            }
            for n in idle {
                mgr.remove(&n)?;
                println!("{n}");
            }
            Ok(0)
        }
        NetworkCommand::Connect {
            ip,
            alias,
            network,
            container,
        } => {
            let rec = lifecycle::find(&store, &container)?;
            let ip = match ip {
                Some(s) => Some(
                    s.parse()
                        .with_context(|| format!("invalid --ip {s:?}: not an IPv4 address"))?,
                ),
                None => None,
            };
            net::connect::connect(&store, &rec, &network, &alias, ip)?;
            Ok(0)
        }
        NetworkCommand::Disconnect {
            force: _,
            network,
            container,
        } => {
            let rec = lifecycle::find(&store, &container)?;
            net::connect::disconnect(&store, &rec, &network)?;
            Ok(0)
        }
    }
}

fn inspect_value(n: &Network) -> Value {
    let containers: serde_json::Map<String, Value> = n
        .endpoints
        .values()
        .map(|e| {
            (
                e.container_id.clone(),
                json!({
                    "Name": e.container_name,
                    "MacAddress": e.mac,
                    "IPv4Address": format!("{}/{}", e.ip, e.prefix_len),
                    "IPv6Address": "",
                }),
            )
        })
        .collect();
    json!({
        "Name": n.name,
        "Id": n.id,
        "Created": kiln_runtime::timefmt::format_nanos(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(n.created)
        ),
        "Scope": "local",
        "Driver": n.driver,
        "EnableIPv6": false,
        "IPAM": {
            "Driver": "default",
            "Config": [{ "Subnet": n.subnet.to_string(), "Gateway": n.gateway.to_string() }],
        },
        "Internal": n.internal,
        "Containers": containers,
        "Options": {
            "com.docker.network.bridge.name": n.bridge,
            "com.docker.network.bridge.enable_icc": n.icc.to_string(),
        },
    })
}

/// `inspect`'s NetworkSettings of a container: its addresses on each network and the
/// ports published while it runs.
pub fn network_settings(root: &std::path::Path, rec: &kiln_runtime::ContainerRecord) -> Value {
    let eps = net::endpoints(root, &rec.id);
    let mut ports = serde_json::Map::new();
    for (port, proto) in &rec.config.net.exposed {
        ports.insert(format!("{port}/{proto}"), Value::Null);
    }
    for b in net::bindings(root, &rec.id) {
        let key = format!("{}/{}", b.container_port, b.proto);
        let entry = json!({"HostIp": b.host_ip.to_string(), "HostPort": b.host_port.to_string()});
        match ports.get_mut(&key) {
            Some(Value::Array(a)) => a.push(entry),
            _ => {
                ports.insert(key, json!([entry]));
            }
        }
    }
    // Real ids and the default network's name, when this store has networking at all.
    let mgr = root
        .join("network")
        .join("state.json")
        .exists()
        .then(|| net::manager(root).ok())
        .flatten();
    let known = mgr.as_ref().and_then(|m| m.list().ok()).unwrap_or_default();
    let default = mgr
        .as_ref()
        .map_or("bridge".to_string(), |m| m.config().default_network.clone());
    let id_of = |name: &str| {
        known
            .iter()
            .find(|n| n.name == name)
            .map_or(String::new(), |n| n.id.clone())
    };
    let mut networks: serde_json::Map<String, Value> = eps
        .iter()
        .map(|(name, e)| {
            // What peers' hosts files call this container on a user network.
            let dns_names = (*name != default).then(|| {
                let mut names = vec![e.container_name.clone()];
                names.extend(e.aliases.iter().cloned());
                names.push(kiln_runtime::ids::short(&rec.id).to_string());
                names
            });
            (
                name.clone(),
                json!({
                    "Aliases": e.aliases,
                    "DNSNames": dns_names,
                    "NetworkID": id_of(name),
                    "EndpointID": e.host_veth,
                    "Gateway": e.gateway.to_string(),
                    "IPAddress": e.ip.to_string(),
                    "IPPrefixLen": e.prefix_len,
                    "MacAddress": e.mac,
                }),
            )
        })
        .collect();
    // Networks the container joins when it starts (Docker lists them for a stopped one too).
    if rec.config.net.mode == net::NetMode::Bridge {
        let configured = if rec.config.net.networks.is_empty() {
            vec![default.clone()]
        } else {
            rec.config.net.networks.clone()
        };
        for (i, wanted) in configured.iter().enumerate() {
            let Some(n) = known.iter().find(|n| n.name == *wanted).or_else(|| {
                known
                    .iter()
                    .find(|n| !wanted.is_empty() && n.id.starts_with(wanted.as_str()))
            }) else {
                continue;
            };
            if networks.contains_key(&n.name) {
                continue;
            }
            let aliases = if n.name == default {
                Vec::new()
            } else {
                net::connect::aliases_for(&rec.config, i, wanted)
            };
            networks.insert(
                n.name.clone(),
                json!({
                    "Aliases": aliases, "DNSNames": Value::Null, "NetworkID": n.id,
                    "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
                    "MacAddress": "",
                }),
            );
        }
    }
    let primary = eps.iter().find(|(_, e)| e.ifname == "eth0").map(|(_, e)| e);
    json!({
        "SandboxKey": primary.map(|e| e.netns.display().to_string()).unwrap_or_default(),
        "Ports": ports,
        "IPAddress": primary.map(|e| e.ip.to_string()).unwrap_or_default(),
        "IPPrefixLen": primary.map(|e| e.prefix_len).unwrap_or(0),
        "Gateway": primary.map(|e| e.gateway.to_string()).unwrap_or_default(),
        "MacAddress": primary.map(|e| e.mac.clone()).unwrap_or_default(),
        "Networks": networks,
    })
}
