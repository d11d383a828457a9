//! EXPOSE port specs (`80`, `80/udp`, `8000-8010`, and the discouraged
//! `[ip:]host:container`), turned into `port/proto` keys as BuildKit does, with the
//! ExposeProtoCasing / ExposeInvalidFormat findings.
//!
//! API: [`parse_port`], [`PortSpec`], [`ExposeError`].

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExposeError {
    #[error("invalid port {raw:?}: {reason}; expected PORT[/tcp|udp|sctp] or START-END[/proto]")]
    Invalid { raw: String, reason: String },
}

/// The outcome of one port word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    /// `80/tcp`, one per port of a range.
    pub ports: Vec<String>,
    /// The protocol was not written in lowercase (ExposeProtoCasing).
    pub proto_not_lowercase: bool,
    /// An IP or host port was given (ExposeInvalidFormat).
    pub has_host_part: bool,
}

fn invalid(raw: &str, reason: impl Into<String>) -> ExposeError {
    ExposeError::Invalid {
        raw: raw.to_string(),
        reason: reason.into(),
    }
}

fn port_number(s: &str, raw: &str) -> Result<u32, ExposeError> {
    if s.is_empty() {
        return Err(invalid(raw, "value is empty"));
    }
    let n: i64 = s
        .parse()
        .map_err(|_| invalid(raw, format!("{s:?} is not a number")))?;
    if !(0..=65535).contains(&n) {
        return Err(invalid(raw, "value out of range (0-65535)"));
    }
    Ok(n as u32)
}

fn port_range(s: &str, raw: &str) -> Result<(u32, u32), ExposeError> {
    if s.is_empty() {
        return Err(invalid(raw, "no port specified"));
    }
    match s.split_once('-') {
        None => port_number(s, raw).map(|p| (p, p)),
        Some((a, b)) if a == b => port_number(a, raw).map(|p| (p, p)),
        Some((a, b)) => {
            let (start, end) = (port_number(a, raw)?, port_number(b, raw)?);
            if end < start {
                return Err(invalid(raw, format!("invalid port range: {s}")));
            }
            Ok((start, end))
        }
    }
}

/// Parses one (already expanded) port word.
pub fn parse_port(raw: &str) -> Result<PortSpec, ExposeError> {
    let parts: Vec<&str> = raw.split(':').collect();
    let n = parts.len();
    let (ip, host_port, container) = match n {
        1 => (String::new(), "", parts[0]),
        2 => (String::new(), parts[0], parts[1]),
        _ => (parts[..n - 2].join(":"), parts[n - 2], parts[n - 1]),
    };
    let (port, proto) = container.split_once('/').unwrap_or((container, ""));
    if port.is_empty() {
        return Err(invalid(raw, "no port specified"));
    }
    let proto_lower = proto.to_ascii_lowercase();
    let proto_lower = match proto_lower.as_str() {
        "" => "tcp".to_string(),
        "tcp" | "udp" | "sctp" => proto_lower,
        _ => return Err(invalid(raw, format!("invalid proto: {proto}"))),
    };
    let ip = ip
        .strip_prefix('[')
        .and_then(|i| i.strip_suffix(']'))
        .map_or(ip.clone(), str::to_string);
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(invalid(raw, format!("invalid IP address: {ip}")));
    }
    let (start, end) = port_range(port, raw)?;
    if !host_port.is_empty() {
        let (hs, he) = port_range(host_port, raw)?;
        if end - start != he - hs && end != start {
            return Err(invalid(
                raw,
                format!(
                    "invalid ranges specified for container and host ports: {port} and {host_port}"
                ),
            ));
        }
    }
    Ok(PortSpec {
        ports: (start..=end)
            .map(|p| format!("{p}/{proto_lower}"))
            .collect(),
        proto_not_lowercase: proto != proto.to_ascii_lowercase(),
        has_host_part: !ip.is_empty() || !host_port.is_empty(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_ranges() {
        assert_eq!(parse_port("80").unwrap().ports, ["80/tcp"]);
        assert_eq!(parse_port("53/UDP").unwrap().ports, ["53/udp"]);
        assert!(parse_port("53/UDP").unwrap().proto_not_lowercase);
        assert_eq!(
            parse_port("8000-8002/tcp").unwrap().ports,
            ["8000/tcp", "8001/tcp", "8002/tcp"]
        );
        let mapped = parse_port("127.0.0.1:8080:80").unwrap();
        assert!(mapped.has_host_part);
        assert_eq!(mapped.ports, ["80/tcp"]);
        assert!(!parse_port("80").unwrap().has_host_part);
    }

    #[test]
    fn bad_ports() {
        for bad in ["", "/tcp", "80/http", "70000", "9-1", "abc", "x.y:80:80"] {
            assert!(parse_port(bad).is_err(), "{bad:?}");
        }
    }
}
