//! Where the daemon listens: a unix socket (mode 0660, optionally group-owned by `kiln`;
//! refused when another daemon answers on it) or TCP (mutual TLS; plain only on
//! loopback, with a warning).

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio_rustls::TlsAcceptor;

use crate::host::Host;
use crate::tls::{TlsError, TlsFiles};

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("another kiln daemon is listening on {0}; stop it, or give this one another --host")]
    SocketInUse(PathBuf),
    #[error("{0} exists and is not a socket; remove it or choose another --host")]
    NotASocket(PathBuf),
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the socket group {0:?} does not exist; create it (groupadd {0}) or remove `group` from the config")]
    NoGroup(String),
    #[error("refusing plain TCP on {0}: without TLS anyone who can reach it controls the daemon; use --tlsverify --tlscacert --tlscert --tlskey, or a loopback address")]
    PlainTcp(std::net::SocketAddr),
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// A connection from any listener.
pub trait Conn: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Conn for T {}

/// How to bind.
#[derive(Debug, Clone, Default)]
pub struct BindOptions {
    /// Group of the unix socket; `required` makes a missing group an error.
    pub group: Option<String>,
    pub group_required: bool,
    pub tls: Option<TlsFiles>,
}

pub enum Listener {
    Unix {
        listener: UnixListener,
        path: PathBuf,
    },
    Tcp {
        listener: TcpListener,
        tls: Option<TlsAcceptor>,
    },
}

impl Listener {
    pub async fn bind(host: &Host, opts: &BindOptions) -> Result<Listener, ListenError> {
        match host {
            Host::Unix(path) => bind_unix(path, opts).await,
            Host::Tcp(addr) => {
                let tls = match &opts.tls {
                    Some(files) => Some(TlsAcceptor::from(files.server_config()?)),
                    None if addr.ip().is_loopback() => {
                        tracing::warn!("listening on plain TCP {addr} without TLS: any local user can use the daemon; prefer a unix socket or --tlsverify");
                        None
                    }
                    None => return Err(ListenError::PlainTcp(*addr)),
                };
                let listener = TcpListener::bind(addr)
                    .await
                    .map_err(|source| ListenError::Io {
                        action: "listening on",
                        path: addr.to_string(),
                        source,
                    })?;
                Ok(Listener::Tcp { listener, tls })
            }
        }
    }

    /// The next connection (TLS handshakes happen here, so call it from a task per
    /// connection when TLS is on: see [`Listener::accept_raw`]).
    pub async fn accept_raw(&self) -> std::io::Result<Accepted> {
        match self {
            Listener::Unix { listener, .. } => {
                let (s, _) = listener.accept().await?;
                Ok(Accepted::Ready(Box::new(s)))
            }
            Listener::Tcp { listener, tls } => {
                let (s, peer) = listener.accept().await?;
                let _ = s.set_nodelay(true);
                Ok(match tls {
                    Some(acc) => Accepted::Handshake(acc.clone(), s, peer),
                    None => Accepted::Ready(Box::new(s)),
                })
            }
        }
    }

    /// The address actually bound (for a TCP port 0).
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        match self {
            Listener::Tcp { listener, .. } => listener.local_addr().ok(),
            Listener::Unix { .. } => None,
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix { path, .. } = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A freshly accepted connection, or a TLS handshake still to do.
pub enum Accepted {
    Ready(Box<dyn Conn>),
    Handshake(TlsAcceptor, tokio::net::TcpStream, std::net::SocketAddr),
}

impl Accepted {
    pub async fn finish(self) -> std::io::Result<Box<dyn Conn>> {
        match self {
            Accepted::Ready(c) => Ok(c),
            Accepted::Handshake(acc, s, peer) => {
                let tls = acc.accept(s).await.map_err(|e| {
                    std::io::Error::new(e.kind(), format!("TLS handshake with {peer}: {e}"))
                })?;
                Ok(Box::new(tls))
            }
        }
    }
}

async fn bind_unix(path: &Path, opts: &BindOptions) -> Result<Listener, ListenError> {
    let io = |action: &'static str| {
        move |source| ListenError::Io {
            action,
            path: path.display().to_string(),
            source,
        }
    };
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if tokio::net::UnixStream::connect(path).await.is_ok() {
                return Err(ListenError::SocketInUse(path.to_path_buf()));
            }
            // Left behind by a daemon that died (kill -9): nobody answers on it.
            tracing::info!("removing the stale socket {}", path.display());
            std::fs::remove_file(path).map_err(io("removing the stale socket"))?;
        }
        Ok(_) => return Err(ListenError::NotASocket(path.to_path_buf())),
        Err(_) => {}
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io("creating the socket directory for"))?;
    }
    let listener = UnixListener::bind(path).map_err(io("binding"))?;
    let l = Listener::Unix {
        listener,
        path: path.to_path_buf(),
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(io("setting mode 0660 on"))?;
    if let Some(group) = &opts.group {
        match nix::unistd::Group::from_name(group) {
            Ok(Some(g)) => {
                nix::unistd::chown(path, None, Some(g.gid)).map_err(|e| ListenError::Io {
                    action: "changing the group of",
                    path: path.display().to_string(),
                    source: e.into(),
                })?
            }
            _ if opts.group_required => return Err(ListenError::NoGroup(group.clone())),
            _ => tracing::debug!("no group {group:?}; the socket stays root-only"),
        }
    }
    Ok(l)
}

/// The client's connection to `host` (TLS when `tls` is given).
pub async fn connect(
    host: &Host,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> std::io::Result<Box<dyn Conn>> {
    match host {
        Host::Unix(p) => Ok(Box::new(tokio::net::UnixStream::connect(p).await?)),
        Host::Tcp(addr) => {
            let s = tokio::net::TcpStream::connect(addr).await?;
            let _ = s.set_nodelay(true);
            match tls {
                None => Ok(Box::new(s)),
                Some(cfg) => {
                    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
                    let c = tokio_rustls::TlsConnector::from(cfg.clone())
                        .connect(name, s)
                        .await?;
                    Ok(Box::new(c))
                }
            }
        }
    }
}
