//! Docker's legacy `--link` environment variables.

use std::net::IpAddr;

use crate::ports::Proto;

/// What the runtime knows of a linked container.
#[derive(Debug, Clone)]
pub struct LinkTarget {
    /// The linked container's name (without a leading slash).
    pub name: String,
    /// The alias it is linked as (`--link name:alias`; the name when no alias is given).
    pub alias: String,
    pub ip: IpAddr,
    /// Its exposed ports.
    pub ports: Vec<(u16, Proto)>,
    /// Its environment (`KEY=value`).
    pub env: Vec<String>,
}

/// `--link name[:alias]` split into (name, alias).
pub fn parse_link(value: &str) -> (String, String) {
    let value = value.trim_start_matches('/');
    match value.split_once(':') {
        Some((n, a)) if !a.is_empty() => (n.to_string(), a.to_string()),
        Some((n, _)) => (n.to_string(), n.to_string()),
        None => (value.to_string(), value.to_string()),
    }
}

/// The variables Docker sets in the container `parent` for a link: `ALIAS_NAME`,
/// `ALIAS_PORT` (lowest port), `ALIAS_PORT_<port>_<PROTO>[_ADDR|_PORT|_PROTO]` and
/// `ALIAS_ENV_<key>` for the target's environment except HOME and PATH.
pub fn link_env(parent: &str, link: &LinkTarget) -> Vec<String> {
    let prefix: String = link
        .alias
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    let mut env = vec![format!(
        "{prefix}_NAME=/{}/{}",
        parent.trim_start_matches('/'),
        link.alias
    )];
    let mut ports = link.ports.clone();
    ports.sort();
    if let Some((port, proto)) = ports.first() {
        env.push(format!("{prefix}_PORT={proto}://{}:{port}", link.ip));
    }
    for (port, proto) in &ports {
        let p = format!("{prefix}_PORT_{port}_{}", proto.to_string().to_uppercase());
        env.push(format!("{p}={proto}://{}:{port}", link.ip));
        env.push(format!("{p}_ADDR={}", link.ip));
        env.push(format!("{p}_PORT={port}"));
        env.push(format!("{p}_PROTO={proto}"));
    }
    for kv in &link.env {
        if let Some((k, v)) = kv.split_once('=') {
            if k != "HOME" && k != "PATH" {
                env.push(format!("{prefix}_ENV_{k}={v}"));
            }
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_legacy_variables() {
        let t = LinkTarget {
            name: "db1".into(),
            alias: "my-db".into(),
            ip: "172.17.0.5".parse().unwrap(),
            ports: vec![(6379, Proto::Tcp), (53, Proto::Udp)],
            env: vec!["PATH=/bin".into(), "REDIS_VERSION=7".into()],
        };
        let env = link_env("web", &t);
        assert_eq!(
            env,
            vec![
                "MY_DB_NAME=/web/my-db",
                "MY_DB_PORT=udp://172.17.0.5:53",
                "MY_DB_PORT_53_UDP=udp://172.17.0.5:53",
                "MY_DB_PORT_53_UDP_ADDR=172.17.0.5",
                "MY_DB_PORT_53_UDP_PORT=53",
                "MY_DB_PORT_53_UDP_PROTO=udp",
                "MY_DB_PORT_6379_TCP=tcp://172.17.0.5:6379",
                "MY_DB_PORT_6379_TCP_ADDR=172.17.0.5",
                "MY_DB_PORT_6379_TCP_PORT=6379",
                "MY_DB_PORT_6379_TCP_PROTO=tcp",
                "MY_DB_ENV_REDIS_VERSION=7",
            ]
        );
    }

    #[test]
    fn link_spec_parsing() {
        assert_eq!(parse_link("db:alias"), ("db".into(), "alias".into()));
        assert_eq!(parse_link("/db"), ("db".into(), "db".into()));
        assert_eq!(parse_link("db:"), ("db".into(), "db".into()));
    }
}
