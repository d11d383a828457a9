//! Content of a container's /etc/hosts and /etc/resolv.conf, and writing the managed hosts
//! file in place (the runtime bind-mounts it, and a rename would leave the container looking
//! at the old inode).

use std::fmt::Write as _;
use std::io::{Seek, SeekFrom, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum HostsError {
    #[error("cannot write hosts file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid --add-host {value:?}: {reason} (expected name:ip, e.g. db:10.0.0.5)")]
    AddHost { value: String, reason: &'static str },
}

/// One line of a hosts file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    pub ip: IpAddr,
    pub names: Vec<String>,
}

/// Everything that goes into a container's hosts file, in Docker's order.
#[derive(Debug, Clone, Default)]
pub struct HostsContent {
    /// `--add-host` entries.
    pub extra: Vec<HostEntry>,
    /// `--link` targets.
    pub links: Vec<HostEntry>,
    /// The container's own addresses and hostname.
    pub own: Vec<HostEntry>,
    /// Peers on the container's user networks (managed entries).
    pub peers: Vec<HostEntry>,
}

const BASE: &str =
    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n\
                    ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

impl HostsContent {
    pub fn render(&self) -> String {
        let mut s = String::from(BASE);
        for e in self
            .extra
            .iter()
            .chain(&self.links)
            .chain(&self.own)
            .chain(&self.peers)
        {
            if !e.names.is_empty() {
                let _ = writeln!(s, "{}\t{}", e.ip, e.names.join(" "));
            }
        }
        s
    }
}

/// Parses `--add-host name:ip` (Docker also accepts `name=ip`; IPv6 may be bracketed).
pub fn parse_add_host(value: &str) -> Result<(String, IpAddr), HostsError> {
    let bad = |reason| HostsError::AddHost {
        value: value.to_string(),
        reason,
    };
    let (name, ip) = value
        .split_once('=')
        .or_else(|| value.split_once(':'))
        .ok_or_else(|| bad("missing ':' between name and address"))?;
    if name.is_empty() || name.chars().any(|c| c.is_whitespace()) {
        return Err(bad("the name is empty or contains spaces"));
    }
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| bad("the address is not an IP address"))?;
    Ok((name.to_string(), ip))
}

/// Replaces the content of `path` without replacing its inode: new content is written over
/// the old and the file is then cut to length, so a reader never sees an empty file.
pub fn write_in_place(path: &Path, content: &str) -> Result<(), HostsError> {
    let run = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        f.seek(SeekFrom::Start(0))?;
        f.write_all(content.as_bytes())?;
        f.set_len(content.len() as u64)?;
        Ok(())
    };
    run().map_err(|source| HostsError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Options of a container's resolv.conf (`--dns`, `--dns-search`, `--dns-option`).
#[derive(Debug, Clone, Default)]
pub struct DnsConfig {
    pub servers: Vec<IpAddr>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

/// Docker's fallback when the host has no nameserver the container could use.
const FALLBACK_DNS: [&str; 2] = ["8.8.8.8", "8.8.4.4"];

/// The container's resolv.conf: explicit settings win; otherwise the host's file is used
/// minus loopback nameservers (they would point at the container itself).
pub fn resolv_conf(config: &DnsConfig, host_resolv: &str) -> String {
    let mut servers: Vec<String> = config.servers.iter().map(ToString::to_string).collect();
    let mut search = config.search.clone();
    let mut options = config.options.clone();
    let mut host_servers = Vec::new();
    for line in host_resolv.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                if let Some(Ok(ip)) = words.next().map(str::parse::<IpAddr>) {
                    if !ip.is_loopback() {
                        host_servers.push(ip.to_string());
                    }
                }
            }
            Some("search") | Some("domain") if config.search.is_empty() => {
                search.extend(words.map(String::from))
            }
            Some("options") if config.options.is_empty() => options.extend(words.map(String::from)),
            _ => {}
        }
    }
    if servers.is_empty() {
        servers = host_servers;
    }
    if servers.is_empty() {
        servers = FALLBACK_DNS.iter().map(|s| s.to_string()).collect();
    }
    let mut s = String::new();
    for ns in &servers {
        let _ = writeln!(s, "nameserver {ns}");
    }
    if !search.is_empty() {
        let _ = writeln!(s, "search {}", search.join(" "));
    }
    if !options.is_empty() {
        let _ = writeln!(s, "options {}", options.join(" "));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_render_in_order() {
        let c = HostsContent {
            extra: vec![HostEntry {
                ip: "10.1.1.1".parse().unwrap(),
                names: vec!["db".into()],
            }],
            links: vec![HostEntry {
                ip: "172.17.0.3".parse().unwrap(),
                names: vec!["web".into(), "w1".into()],
            }],
            own: vec![HostEntry {
                ip: "172.17.0.2".parse().unwrap(),
                names: vec!["abc123".into()],
            }],
            peers: vec![],
        };
        let text = c.render();
        assert!(text.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(
            text.ends_with("10.1.1.1\tdb\n172.17.0.3\tweb w1\n172.17.0.2\tabc123\n"),
            "{text}"
        );
    }

    #[test]
    fn add_host_parsing() {
        assert_eq!(
            parse_add_host("db:10.0.0.5").unwrap(),
            ("db".into(), "10.0.0.5".parse().unwrap())
        );
        assert_eq!(
            parse_add_host("v6=[::1]").unwrap(),
            ("v6".into(), "::1".parse().unwrap())
        );
        assert!(parse_add_host("nocolon").is_err());
        assert!(parse_add_host("db:notanip").is_err());
        assert!(parse_add_host(":10.0.0.1").is_err());
    }

    #[test]
    fn resolv_drops_loopback_and_honours_flags() {
        let host =
            "nameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch corp.example\noptions ndots:2\n";
        let r = resolv_conf(&DnsConfig::default(), host);
        assert_eq!(
            r,
            "nameserver 192.0.2.53\nsearch corp.example\noptions ndots:2\n"
        );
        let cfg = DnsConfig {
            servers: vec!["10.0.0.2".parse().unwrap()],
            search: vec!["a.example".into()],
            options: vec![],
        };
        assert_eq!(
            resolv_conf(&cfg, host),
            "nameserver 10.0.0.2\nsearch a.example\noptions ndots:2\n"
        );
        assert_eq!(
            resolv_conf(&DnsConfig::default(), "nameserver 127.0.0.1\n"),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
    }

    #[test]
    fn in_place_write_keeps_inode() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hosts");
        write_in_place(&p, "a much longer first version\n").unwrap();
        let ino = std::fs::metadata(&p).unwrap().ino();
        write_in_place(&p, "short\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "short\n");
        assert_eq!(std::fs::metadata(&p).unwrap().ino(), ino);
    }
}
