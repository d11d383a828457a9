//! nftables rules: outbound masquerade per non-internal bridge subnet, isolation between
//! kiln networks, no way out of internal networks, and `icc=false` (no traffic between
//! containers of one bridge except linked pairs). kiln owns one `inet` and one `bridge`
//! table, regenerated from the stored state and swapped in one `nft -f` transaction, so
//! applying is atomic and idempotent and removal is deleting the tables. Spawning `nft`
//! costs milliseconds, which is why it runs only when networks are created or removed, or
//! when the members of an `icc=false` network change.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use crate::state::State;

#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    #[error("cannot run `nft`: {0}; install the nftables package")]
    Spawn(std::io::Error),
    #[error("`nft -f -` rejected kiln's rules for table {table}: {stderr}")]
    Rejected { table: String, stderr: String },
    #[error("cannot set {path}: {source}")]
    Sysctl {
        path: &'static str,
        source: std::io::Error,
    },
}

/// kiln's nftables tables, named `table` in the inet and bridge families.
#[derive(Debug, Clone)]
pub struct Firewall {
    table: String,
}

/// The pairs of addresses allowed to talk on an `icc=false` bridge (from `--link`).
fn link_pairs(state: &State, network: &str) -> Vec<(Ipv4Addr, Ipv4Addr)> {
    let Some(net) = state.networks.get(network) else {
        return Vec::new();
    };
    let mut pairs = Vec::new();
    for ep in net.endpoints.values() {
        let Some(record) = state.containers.get(&ep.container_id) else {
            continue;
        };
        for (ip, _) in &record.link_hosts {
            if let std::net::IpAddr::V4(peer) = ip {
                if net.subnet.contains(peer) {
                    pairs.push((ep.ip, *peer));
                }
            }
        }
    }
    pairs
}

impl Firewall {
    pub fn new(table: impl Into<String>) -> Firewall {
        Firewall {
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The complete `nft -f` script that replaces kiln's tables with rules for `state`.
    pub fn script(&self, state: &State) -> String {
        let t = &self.table;
        // Creating before deleting makes the delete succeed whether or not the table exists.
        let mut s = format!("table inet {t} {{}}\ndelete table inet {t}\ntable bridge {t} {{}}\ndelete table bridge {t}\n");
        if state.networks.is_empty() {
            return s;
        }
        let bridges: Vec<&str> = state.networks.values().map(|n| n.bridge.as_str()).collect();
        let mut forward = String::new();
        let mut nat = String::new();
        for net in state.networks.values() {
            let b = &net.bridge;
            if net.internal {
                let _ = writeln!(forward, "    iifname \"{b}\" oifname != \"{b}\" drop");
                let _ = writeln!(forward, "    oifname \"{b}\" iifname != \"{b}\" drop");
            } else {
                let _ = writeln!(
                    nat,
                    "    ip saddr {} oifname != \"{b}\" masquerade",
                    net.subnet.trunc()
                );
            }
            let others: Vec<String> = bridges
                .iter()
                .filter(|o| *o != b)
                .map(|o| format!("\"{o}\""))
                .collect();
            if !others.is_empty() {
                let _ = writeln!(
                    forward,
                    "    iifname \"{b}\" oifname {{ {} }} drop",
                    others.join(", ")
                );
            }
        }
        let _ = write!(
            s,
            "table inet {t} {{\n  chain forward {{\n    type filter hook forward priority filter; policy accept;\n{forward}  }}\n  \
             chain postrouting {{\n    type nat hook postrouting priority srcnat; policy accept;\n{nat}  }}\n}}\n"
        );
        let mut sets = String::new();
        let mut rules = String::new();
        for (i, net) in state.networks.values().filter(|n| !n.icc).enumerate() {
            let ports: Vec<String> = net
                .endpoints
                .values()
                .map(|e| format!("\"{}\"", e.host_veth))
                .collect();
            let elements = if ports.is_empty() {
                String::new()
            } else {
                format!(" elements = {{ {} }};", ports.join(", "))
            };
            let _ = writeln!(sets, "  set ports{i} {{ type ifname;{elements} }}");
            let m = format!("iifname @ports{i} oifname @ports{i}");
            let _ = writeln!(rules, "    {m} ether type arp accept");
            for (a, b) in link_pairs(state, &net.name) {
                let _ = writeln!(rules, "    {m} ip saddr {a} ip daddr {b} accept");
                let _ = writeln!(rules, "    {m} ip saddr {b} ip daddr {a} accept");
            }
            let _ = writeln!(rules, "    {m} drop");
        }
        if !rules.is_empty() {
            let _ = write!(
                s,
                "table bridge {t} {{\n{sets}  chain forward {{\n    type filter hook forward priority 0; policy accept;\n{rules}  }}\n}}\n"
            );
        }
        s
    }

    /// Makes the kernel's rules match `state`.
    pub fn apply(&self, state: &State) -> Result<(), FirewallError> {
        let script = self.script(state);
        tracing::debug!(table = %self.table, "applying nftables rules");
        run_nft(&self.table, &script)
    }

    /// Deletes kiln's tables (no error when they do not exist).
    pub fn remove(&self) -> Result<(), FirewallError> {
        self.apply(&State::default())
    }
}

fn run_nft(table: &str, script: &str) -> Result<(), FirewallError> {
    let mut child = Command::new(nft_binary())
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(FirewallError::Spawn)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(FirewallError::Spawn)?;
    }
    let out = child.wait_with_output().map_err(FirewallError::Spawn)?;
    if !out.status.success() {
        return Err(FirewallError::Rejected {
            table: table.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// `nft` from PATH, else from the system directories: container monitors run with an
/// empty environment.
fn nft_binary() -> std::path::PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(std::path::PathBuf::from))
        .map(|d| d.join("nft"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| "nft".into())
}

const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// Turns on IPv4 forwarding in the caller's network namespace, which bridged containers
/// need to reach anything beyond their bridge (Docker does the same).
pub fn enable_ip_forward() -> Result<(), FirewallError> {
    let current = std::fs::read_to_string(IP_FORWARD).map_err(|source| FirewallError::Sysctl {
        path: IP_FORWARD,
        source,
    })?;
    if current.trim() == "1" {
        return Ok(());
    }
    std::fs::write(IP_FORWARD, "1").map_err(|source| FirewallError::Sysctl {
        path: IP_FORWARD,
        source,
    })
}
