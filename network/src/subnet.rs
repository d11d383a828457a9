//! Choosing a bridge subnet that cannot collide with the host's networks: the host's IPv4
//! routes (from /proc/thread-self/net/route) and the subnets of kiln's own networks are avoided.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

#[derive(Debug, thiserror::Error)]
pub enum SubnetError {
    #[error("cannot read the host's routes from {path}: {source}")]
    ReadRoutes {
        path: &'static str,
        source: std::io::Error,
    },
    #[error("{path} line {line}: cannot parse route entry {text:?}")]
    ParseRoute {
        path: &'static str,
        line: usize,
        text: String,
    },
    #[error("every candidate subnet overlaps a host route or another kiln network; pass an explicit --subnet (or bip)")]
    NoneFree,
}

// thread-self, not self: a thread that entered another network namespace must see that
// namespace's routes (/proc/self/net follows the main thread).
const ROUTE_FILE: &str = "/proc/thread-self/net/route";

/// The pool Docker draws from: 172.17-31.0.0/16, then 192.168.0-240.0/20.
pub fn default_candidates() -> Vec<Ipv4Net> {
    let mut out = Vec::new();
    for b in 17..=31u8 {
        out.extend(Ipv4Net::new(Ipv4Addr::new(172, b, 0, 0), 16).ok());
    }
    for c in (0..=240u8).step_by(16) {
        out.extend(Ipv4Net::new(Ipv4Addr::new(192, 168, c, 0), 20).ok());
    }
    out
}

/// A route of the host: the interface and destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRoute {
    pub iface: String,
    pub dest: Ipv4Net,
}

/// The destinations of the host's IPv4 routes in the current network namespace, without
/// the default route (every subnet "overlaps" 0.0.0.0/0, and Docker ignores it too).
pub fn host_routes() -> Result<Vec<HostRoute>, SubnetError> {
    let text = std::fs::read_to_string(ROUTE_FILE).map_err(|source| SubnetError::ReadRoutes {
        path: ROUTE_FILE,
        source,
    })?;
    parse_routes(&text)
}

fn parse_routes(text: &str) -> Result<Vec<HostRoute>, SubnetError> {
    let mut out = Vec::new();
    // Header line first; columns: Iface Destination Gateway Flags RefCnt Use Metric Mask ...
    for (i, line) in text.lines().enumerate().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let bad = || SubnetError::ParseRoute {
            path: ROUTE_FILE,
            line: i + 1,
            text: line.to_string(),
        };
        let (Some(iface), Some(dest), Some(mask)) = (cols.first(), cols.get(1), cols.get(7)) else {
            return Err(bad());
        };
        // The kernel prints the network-order bytes as one native-endian u32 in hex.
        let dest = u32::from_str_radix(dest, 16).map_err(|_| bad())?;
        let mask = u32::from_str_radix(mask, 16).map_err(|_| bad())?;
        let dest = Ipv4Addr::from(dest.to_ne_bytes());
        let mask = Ipv4Addr::from(mask.to_ne_bytes());
        let prefix = ipnet::ipv4_mask_to_prefix(mask).map_err(|_| bad())?;
        if prefix == 0 {
            continue;
        }
        let dest = Ipv4Net::new(dest, prefix).map_err(|_| bad())?.trunc();
        out.push(HostRoute {
            iface: iface.to_string(),
            dest,
        });
    }
    Ok(out)
}

pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The first candidate that overlaps none of `taken`.
pub fn pick(candidates: &[Ipv4Net], taken: &[Ipv4Net]) -> Result<Ipv4Net, SubnetError> {
    candidates
        .iter()
        .find(|c| !taken.iter().any(|t| overlaps(c, t)))
        .copied()
        .ok_or(SubnetError::NoneFree)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_net_route() {
        let text =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                    eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                    eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        let routes = parse_routes(text).unwrap();
        assert_eq!(
            routes,
            vec![HostRoute {
                iface: "eth0".into(),
                dest: "192.0.2.0/24".parse().unwrap()
            }]
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_routes("header\neth0 zz\n").is_err());
    }

    #[test]
    fn picks_first_free() {
        let c = default_candidates();
        let taken: Vec<Ipv4Net> = vec!["172.16.0.0/12".parse().unwrap()];
        assert_eq!(
            pick(&c, &taken).unwrap(),
            "192.168.0.0/20".parse::<Ipv4Net>().unwrap()
        );
        let taken: Vec<Ipv4Net> = vec!["172.17.5.0/24".parse().unwrap()];
        assert_eq!(
            pick(&c, &taken).unwrap(),
            "172.18.0.0/16".parse::<Ipv4Net>().unwrap()
        );
        let all: Vec<Ipv4Net> = vec!["128.0.0.0/1".parse().unwrap()];
        assert!(pick(&c, &all).is_err());
    }

    #[test]
    fn host_routes_of_this_machine_parse() {
        host_routes().unwrap();
    }
}
