//! Daemon addresses as `--host` / `KILN_HOST` spell them (like `DOCKER_HOST`):
//! `unix:///path/to.sock` or `tcp://ADDR:PORT`.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Where the daemon listens when no `--host` is given, and where the CLI looks for it.
pub const DEFAULT_SOCKET: &str = "/run/kiln/kiln.sock";

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("--host {0:?}: unsupported address; use unix:///path/to/kiln.sock or tcp://ADDR:PORT")]
    Scheme(String),
    #[error("--host {given:?}: {why}; use tcp://ADDR:PORT with a numeric address (e.g. tcp://127.0.0.1:2376)")]
    Tcp { given: String, why: String },
    #[error("--host {0:?}: the socket path is empty; use unix:///path/to/kiln.sock")]
    EmptyPath(String),
}

/// A parsed daemon address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

impl Host {
    pub fn parse(s: &str) -> Result<Host, HostError> {
        if let Some(path) = s.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(HostError::EmptyPath(s.to_string()));
            }
            return Ok(Host::Unix(PathBuf::from(path)));
        }
        if let Some(addr) = s.strip_prefix("tcp://") {
            let addr = addr.trim_end_matches('/');
            return addr.parse().map(Host::Tcp).map_err(|e| HostError::Tcp {
                given: s.to_string(),
                why: e.to_string(),
            });
        }
        // A bare absolute path is a socket, as Docker's CLI accepts it.
        if s.starts_with('/') {
            return Ok(Host::Unix(PathBuf::from(s)));
        }
        Err(HostError::Scheme(s.to_string()))
    }

    /// The default unix socket.
    pub fn default_socket() -> Host {
        Host::Unix(PathBuf::from(DEFAULT_SOCKET))
    }
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Unix(p) => write!(f, "unix://{}", p.display()),
            Host::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_docker_spellings() {
        assert_eq!(
            Host::parse("unix:///run/kiln/kiln.sock").unwrap(),
            Host::Unix("/run/kiln/kiln.sock".into())
        );
        assert_eq!(
            Host::parse("/tmp/k.sock").unwrap(),
            Host::Unix("/tmp/k.sock".into())
        );
        assert_eq!(
            Host::parse("tcp://127.0.0.1:2376").unwrap(),
            Host::Tcp("127.0.0.1:2376".parse().unwrap())
        );
        assert!(matches!(
            Host::parse("tcp://localhost"),
            Err(HostError::Tcp { .. })
        ));
        assert!(matches!(Host::parse("ssh://x"), Err(HostError::Scheme(_))));
        assert!(matches!(
            Host::parse("unix://"),
            Err(HostError::EmptyPath(_))
        ));
        let h = Host::parse("tcp://[::1]:9").unwrap();
        assert_eq!(h.to_string(), "tcp://[::1]:9");
    }
}
