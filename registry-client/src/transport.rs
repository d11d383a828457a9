//! How kiln talks to one registry host: plain http or TLS (with `certs.d` CAs and client
//! certificates), and when and how long to wait before retrying a failed request.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;

pub const DEFAULT_CERTS_DIR: &str = "/etc/kiln/certs.d";

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot read certificate directory {path} for registry {host}: {source}")]
    CertDir {
        host: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid CA certificate {path} for registry {host}: {source}; it must be PEM")]
    BadCa {
        host: String,
        path: PathBuf,
        source: reqwest::Error,
    },
    #[error("CA file {path} for registry {host} holds no PEM certificate")]
    EmptyCa { host: String, path: PathBuf },
    #[error("client certificate {cert} has no matching key {key} for registry {host}")]
    MissingKey {
        host: String,
        cert: PathBuf,
        key: PathBuf,
    },
    #[error("invalid client certificate/key {cert} for registry {host}: {source}")]
    BadIdentity {
        host: String,
        cert: PathBuf,
        source: reqwest::Error,
    },
    #[error("cannot set up an HTTP client for registry {host}: {source}")]
    Build {
        host: String,
        source: reqwest::Error,
    },
}

/// Retries for transient failures: 5xx, 429 and broken connections.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Total tries per request, including the first.
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff with jitter so parallel layer transfers do not retry in lockstep.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let base = self
            .initial_backoff
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max_backoff);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let jitter = base.mul_f64(f64::from(nanos % 1000) / 4000.0);
        base + jitter
    }

    pub fn retryable_status(status: StatusCode) -> bool {
        status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
    }
}

#[derive(Clone, Debug)]
pub struct TransportConfig {
    /// Hosts (`host` or `host:port`) reached over plain http, like Docker's `--insecure-registry`.
    pub insecure_registries: Vec<String>,
    /// Docker's `certs.d` layout: `<dir>/<host[:port]>/*.crt` are CAs, `*.cert` + `*.key` client pairs.
    pub certs_dir: PathBuf,
    /// Fixed name resolution (air-gapped setups, tests of TLS hosts on loopback).
    pub resolve: Vec<(String, SocketAddr)>,
    pub retry: RetryPolicy,
    pub connect_timeout: Duration,
    pub user_agent: String,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            insecure_registries: Vec::new(),
            certs_dir: PathBuf::from(DEFAULT_CERTS_DIR),
            resolve: Vec::new(),
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(30),
            user_agent: format!("kiln/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

impl TransportConfig {
    /// Docker's rule: loopback registries and the ones the user declared insecure speak http.
    pub fn is_plain_http(&self, host: &str) -> bool {
        let name = host_without_port(host);
        let loopback =
            name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        loopback
            || self
                .insecure_registries
                .iter()
                .any(|r| r == host || r == name)
    }

    pub fn base_url(&self, host: &str) -> String {
        let scheme = if self.is_plain_http(host) {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{host}")
    }

    /// An HTTP client for one registry host, trusting its `certs.d` CAs in addition to the
    /// system's web roots.
    pub fn client_for(&self, host: &str) -> Result<reqwest::Client, TransportError> {
        let mut builder = reqwest::Client::builder()
            .user_agent(&self.user_agent)
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true)
            .use_rustls_tls();
        for (name, addr) in &self.resolve {
            builder = builder.resolve(name, *addr);
        }
        if !self.is_plain_http(host) {
            builder = self.add_certs(builder, host)?;
        }
        builder.build().map_err(|source| TransportError::Build {
            host: host.to_string(),
            source,
        })
    }

    fn add_certs(
        &self,
        mut builder: reqwest::ClientBuilder,
        host: &str,
    ) -> Result<reqwest::ClientBuilder, TransportError> {
        let dir = self.certs_dir.join(host);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(builder),
            Err(source) => {
                return Err(TransportError::CertDir {
                    host: host.to_string(),
                    path: dir,
                    source,
                })
            }
        };
        let dir_err = |source| TransportError::CertDir {
            host: host.to_string(),
            path: dir.clone(),
            source,
        };
        let mut paths: Vec<PathBuf> = entries
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(dir_err)?;
        paths.sort();
        for path in paths {
            match path.extension().and_then(|e| e.to_str()) {
                Some("crt") => {
                    let pem = read(host, &path)?;
                    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|source| {
                        TransportError::BadCa {
                            host: host.to_string(),
                            path: path.clone(),
                            source,
                        }
                    })?;
                    if certs.is_empty() {
                        return Err(TransportError::EmptyCa {
                            host: host.to_string(),
                            path,
                        });
                    }
                    for cert in certs {
                        builder = builder.add_root_certificate(cert);
                    }
                }
                Some("cert") => {
                    let key = path.with_extension("key");
                    if !key.exists() {
                        return Err(TransportError::MissingKey {
                            host: host.to_string(),
                            cert: path,
                            key,
                        });
                    }
                    let mut pem = read(host, &path)?;
                    pem.push(b'\n');
                    pem.extend(read(host, &key)?);
                    let identity = reqwest::Identity::from_pem(&pem).map_err(|source| {
                        TransportError::BadIdentity {
                            host: host.to_string(),
                            cert: path.clone(),
                            source,
                        }
                    })?;
                    builder = builder.identity(identity);
                }
                _ => {}
            }
        }
        Ok(builder)
    }
}

fn read(host: &str, path: &Path) -> Result<Vec<u8>, TransportError> {
    std::fs::read(path).map_err(|source| TransportError::CertDir {
        host: host.to_string(),
        path: path.to_path_buf(),
        source,
    })
}

fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_insecure_hosts_use_http() {
        let mut cfg = TransportConfig::default();
        cfg.insecure_registries.push("reg.internal:5000".into());
        cfg.insecure_registries.push("plain.lan".into());
        assert_eq!(cfg.base_url("localhost:5000"), "http://localhost:5000");
        assert_eq!(cfg.base_url("127.0.0.1:5000"), "http://127.0.0.1:5000");
        assert_eq!(cfg.base_url("127.8.9.10"), "http://127.8.9.10");
        assert_eq!(cfg.base_url("[::1]:5000"), "http://[::1]:5000");
        assert_eq!(
            cfg.base_url("reg.internal:5000"),
            "http://reg.internal:5000"
        );
        assert_eq!(cfg.base_url("plain.lan:443"), "http://plain.lan:443");
        assert_eq!(
            cfg.base_url("reg.internal:5001"),
            "https://reg.internal:5001"
        );
        assert_eq!(
            cfg.base_url("registry-1.docker.io"),
            "https://registry-1.docker.io"
        );
        assert_eq!(cfg.base_url("128.0.0.1"), "https://128.0.0.1");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        assert!(
            p.backoff(0) >= Duration::from_millis(100) && p.backoff(0) < Duration::from_millis(130)
        );
        assert!(p.backoff(2) >= Duration::from_millis(400));
        assert!(p.backoff(30) <= Duration::from_millis(1250));
        assert!(RetryPolicy::retryable_status(StatusCode::BAD_GATEWAY));
        assert!(RetryPolicy::retryable_status(StatusCode::TOO_MANY_REQUESTS));
        assert!(!RetryPolicy::retryable_status(StatusCode::NOT_FOUND));
    }

    #[test]
    fn unreadable_ca_is_reported_with_its_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let host_dir = dir.path().join("reg.example:443");
        std::fs::create_dir_all(&host_dir).expect("mkdir");
        std::fs::write(host_dir.join("ca.crt"), b"not a pem").expect("write");
        let cfg = TransportConfig {
            certs_dir: dir.path().to_path_buf(),
            ..TransportConfig::default()
        };
        let err = cfg
            .client_for("reg.example:443")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("ca.crt") && err.contains("reg.example:443"),
            "{err}"
        );
    }
}
