//! Published-port syntax (`-p [ip:][hostPort:]ctrPort[/proto]`, ranges, `-P`) and the
//! `kiln port` listing, with Docker's error wording.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PortError {
    #[error("invalid proto: {0} (use tcp or udp)")]
    Proto(String),
    #[error("invalid containerPort: {0}")]
    ContainerPort(String),
    #[error("invalid hostPort: {0}")]
    HostPort(String),
    #[error("invalid IP address: {0}")]
    Ip(String),
    #[error("no port specified: {0}<empty>")]
    Empty(String),
    #[error("invalid port format {0:?}: expected [ip:][hostPort:]containerPort[/proto]")]
    Format(String),
    #[error("invalid ranges specified for container and host Ports: {0}")]
    Ranges(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

impl FromStr for Proto {
    type Err = PortError;
    fn from_str(s: &str) -> Result<Proto, PortError> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            _ => Err(PortError::Proto(s.to_string())),
        }
    }
}

/// One requested publication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSpec {
    /// Where to listen; `None` means every address (0.0.0.0), as Docker does.
    pub host_ip: Option<IpAddr>,
    /// Inclusive host port range to take the first free port from; `None` means an
    /// ephemeral port chosen by the kernel.
    pub host_ports: Option<(u16, u16)>,
    pub container_port: u16,
    pub proto: Proto,
}

/// A publication in effect (`kiln port`, `inspect`'s NetworkSettings.Ports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PortBinding {
    pub container_port: u16,
    pub proto: Proto,
    pub host_ip: IpAddr,
    pub host_port: u16,
}

impl fmt::Display for PortBinding {
    /// `80/tcp -> 127.0.0.1:8080`, as `docker port` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.host_ip {
            IpAddr::V6(ip) => write!(
                f,
                "{}/{} -> [{ip}]:{}",
                self.container_port, self.proto, self.host_port
            ),
            IpAddr::V4(ip) => write!(
                f,
                "{}/{} -> {ip}:{}",
                self.container_port, self.proto, self.host_port
            ),
        }
    }
}

/// `kiln port CONTAINER [PORT[/PROTO]]`: the matching bindings, one per line, sorted.
pub fn port_listing(bindings: &[PortBinding], filter: Option<(u16, Proto)>) -> Vec<String> {
    let mut b: Vec<PortBinding> = bindings
        .iter()
        .filter(|b| match filter {
            None => true,
            Some((p, proto)) => b.container_port == p && b.proto == proto,
        })
        .copied()
        .collect();
    b.sort();
    b.iter().map(ToString::to_string).collect()
}

fn parse_range(s: &str, err: fn(String) -> PortError) -> Result<(u16, u16), PortError> {
    let one = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|&n| n != 0)
            .ok_or_else(|| err(s.to_string()))
    };
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (one(a)?, one(b)?);
            if b < a {
                return Err(err(s.to_string()));
            }
            Ok((a, b))
        }
        None => one(s).map(|p| (p, p)),
    }
}

/// Parses one `-p` value into the publications it asks for (ranges expand).
pub fn parse_publish(value: &str) -> Result<Vec<PortSpec>, PortError> {
    let (rest, proto) = match value.rsplit_once('/') {
        Some((r, p)) => (r, p.parse::<Proto>()?),
        None => (value, Proto::Tcp),
    };
    // An IPv6 host address is bracketed: [::1]:8080:80.
    let (ip, rest) = if let Some(inner) = rest.strip_prefix('[') {
        let (ip, after) = inner
            .split_once(']')
            .ok_or_else(|| PortError::Format(value.to_string()))?;
        let after = after
            .strip_prefix(':')
            .ok_or_else(|| PortError::Format(value.to_string()))?;
        (Some(ip), after)
    } else {
        (None, rest)
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, ctr) = match (ip, parts.as_slice()) {
        (None, [c]) => (None, "", *c),
        (None, [h, c]) => (None, *h, *c),
        (None, [i, h, c]) => (Some(*i), *h, *c),
        (Some(i), [h, c]) => (Some(i), *h, *c),
        _ => return Err(PortError::Format(value.to_string())),
    };
    if ctr.is_empty() {
        return Err(PortError::Empty(value.to_string()));
    }
    let host_ip = match ip {
        None | Some("") => None,
        Some(i) => Some(
            i.parse::<IpAddr>()
                .map_err(|_| PortError::Ip(i.to_string()))?,
        ),
    };
    let (c0, c1) = parse_range(ctr, PortError::ContainerPort)?;
    let host = if host.is_empty() {
        None
    } else {
        Some(parse_range(host, PortError::HostPort)?)
    };
    let mut out = Vec::new();
    match host {
        Some((h0, h1)) if c0 == c1 => {
            out.push(PortSpec {
                host_ip,
                host_ports: Some((h0, h1)),
                container_port: c0,
                proto,
            });
        }
        Some((h0, h1)) => {
            if h1 - h0 != c1 - c0 {
                return Err(PortError::Ranges(value.to_string()));
            }
            for (i, c) in (c0..=c1).enumerate() {
                let h = h0 + i as u16;
                out.push(PortSpec {
                    host_ip,
                    host_ports: Some((h, h)),
                    container_port: c,
                    proto,
                });
            }
        }
        None => {
            for c in c0..=c1 {
                out.push(PortSpec {
                    host_ip,
                    host_ports: None,
                    container_port: c,
                    proto,
                });
            }
        }
    }
    Ok(out)
}

/// `-P`: every exposed port to an ephemeral host port on every address.
pub fn publish_all(exposed: &[(u16, Proto)]) -> Vec<PortSpec> {
    exposed
        .iter()
        .map(|&(container_port, proto)| PortSpec {
            host_ip: None,
            host_ports: None,
            container_port,
            proto,
        })
        .collect()
}

/// Parses an EXPOSE / `--expose` value: `80`, `80/udp`, `8000-8002`.
pub fn parse_expose(value: &str) -> Result<Vec<(u16, Proto)>, PortError> {
    let (ports, proto) = match value.rsplit_once('/') {
        Some((p, pr)) => (p, pr.parse()?),
        None => (value, Proto::Tcp),
    };
    let (a, b) = parse_range(ports, PortError::ContainerPort)?;
    Ok((a..=b).map(|p| (p, proto)).collect())
}

/// The address a spec listens on.
pub fn listen_ip(spec: &PortSpec) -> IpAddr {
    spec.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> PortSpec {
        let mut v = parse_publish(s).unwrap();
        assert_eq!(v.len(), 1, "{s}");
        v.remove(0)
    }

    #[test]
    fn docker_forms() {
        assert_eq!(
            one("80"),
            PortSpec {
                host_ip: None,
                host_ports: None,
                container_port: 80,
                proto: Proto::Tcp
            }
        );
        assert_eq!(one("8080:80").host_ports, Some((8080, 8080)));
        let s = one("127.0.0.1:8080:80/udp");
        assert_eq!(s.host_ip, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(s.proto, Proto::Udp);
        let s = one("127.0.0.1::80");
        assert_eq!((s.host_ports, s.container_port), (None, 80));
        assert_eq!(one("[::1]:9000:90").host_ip, Some("::1".parse().unwrap()));
        assert_eq!(one("9000-9005:90").host_ports, Some((9000, 9005)));
        let r = parse_publish("8000-8002:80-82").unwrap();
        assert_eq!(
            r.iter()
                .map(|s| (s.host_ports, s.container_port))
                .collect::<Vec<_>>(),
            vec![
                (Some((8000, 8000)), 80),
                (Some((8001, 8001)), 81),
                (Some((8002, 8002)), 82)
            ]
        );
    }

    #[test]
    fn docker_errors() {
        assert_eq!(
            parse_publish("80/sctpx"),
            Err(PortError::Proto("sctpx".into()))
        );
        assert_eq!(
            parse_publish("8080:abc"),
            Err(PortError::ContainerPort("abc".into()))
        );
        assert_eq!(
            parse_publish("99999:80"),
            Err(PortError::HostPort("99999".into()))
        );
        assert_eq!(
            parse_publish("nope:1:80"),
            Err(PortError::Ip("nope".into()))
        );
        assert_eq!(
            parse_publish("8080:"),
            Err(PortError::Empty("8080:".into()))
        );
        assert_eq!(
            parse_publish("8000-8001:80-82"),
            Err(PortError::Ranges("8000-8001:80-82".into()))
        );
        assert!(matches!(
            parse_publish("1:2:3:4"),
            Err(PortError::Format(_))
        ));
        assert_eq!(
            parse_publish("0"),
            Err(PortError::ContainerPort("0".into()))
        );
    }

    #[test]
    fn listing_and_expose() {
        let b = vec![
            PortBinding {
                container_port: 80,
                proto: Proto::Tcp,
                host_ip: "0.0.0.0".parse().unwrap(),
                host_port: 32768,
            },
            PortBinding {
                container_port: 53,
                proto: Proto::Udp,
                host_ip: "127.0.0.1".parse().unwrap(),
                host_port: 5353,
            },
        ];
        assert_eq!(
            port_listing(&b, None),
            vec!["53/udp -> 127.0.0.1:5353", "80/tcp -> 0.0.0.0:32768"]
        );
        assert_eq!(
            port_listing(&b, Some((80, Proto::Tcp))),
            vec!["80/tcp -> 0.0.0.0:32768"]
        );
        assert_eq!(
            parse_expose("8000-8001/udp").unwrap(),
            vec![(8000, Proto::Udp), (8001, Proto::Udp)]
        );
        assert_eq!(publish_all(&[(80, Proto::Tcp)])[0].host_ports, None);
    }
}
