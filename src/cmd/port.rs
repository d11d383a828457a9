//! `kiln port CONTAINER [PORT[/PROTO]]`: the published ports of a running container, as
//! `docker port` prints them.

use anyhow::bail;
use clap::Args;
use kiln_network::ports::{port_listing, Proto};
use kiln_runtime::{lifecycle, network};

use super::container_opts::open_store;
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct PortArgs {
    pub container: String,
    /// Only this container port: 80 or 53/udp
    pub port: Option<String>,
}

pub fn run(global: &GlobalArgs, args: PortArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    let rec = lifecycle::find(&store, &args.container)?;
    let filter = match &args.port {
        None => None,
        Some(p) => {
            let (num, proto) = match p.split_once('/') {
                Some((n, pr)) => (n, pr.parse::<Proto>()?),
                None => (p.as_str(), Proto::Tcp),
            };
            let num: u16 = match num.parse() {
                Ok(n) => n,
                Err(_) => bail!("invalid port {p:?}: use PORT or PORT/PROTO (80, 53/udp)"),
            };
            Some((num, proto))
        }
    };
    let bindings = if lifecycle::monitor_alive(&rec) {
        network::bindings(store.root(), &rec.id)
    } else {
        Vec::new()
    };
    let lines = port_listing(&bindings, filter);
    if let (Some((p, proto)), true) = (filter, lines.is_empty()) {
        bail!(
            "no public port '{p}/{proto}' published for {}",
            args.container
        );
    }
    for l in lines {
        // With a port given, Docker prints only the host side.
        match (filter, l.split_once(" -> ")) {
            (Some(_), Some((_, host))) => println!("{host}"),
            _ => println!("{l}"),
        }
    }
    Ok(0)
}

/// `ps`'s PORTS column: `127.0.0.1:8080->80/tcp` for each published port while the
/// container runs, `80/tcp` for a port only exposed.
pub fn ps_ports(root: &std::path::Path, rec: &kiln_runtime::ContainerRecord) -> String {
    let bindings = if lifecycle::monitor_alive(rec) {
        network::bindings(root, &rec.id)
    } else {
        Vec::new()
    };
    let mut parts: Vec<String> = bindings
        .iter()
        .map(|b| {
            format!(
                "{}:{}->{}/{}",
                b.host_ip, b.host_port, b.container_port, b.proto
            )
        })
        .collect();
    for (port, proto) in &rec.config.net.exposed {
        if !bindings
            .iter()
            .any(|b| b.container_port == *port && b.proto == *proto)
        {
            parts.push(format!("{port}/{proto}"));
        }
    }
    parts.join(", ")
}
