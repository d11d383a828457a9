//! The userland proxy behind published ports: listeners on the host that forward TCP
//! connections and UDP datagrams to the container's address. kiln publishes ports this way
//! (not with DNAT rules) because it needs no `route_localnet` or hairpin rules to work on
//! 127.0.0.1, works the same for every host address, and dies with the container's monitor
//! process that hosts it, so nothing is left behind in the kernel.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::{JoinHandle, JoinSet};

use crate::ports::{listen_ip, PortBinding, PortSpec, Proto};

/// A UDP "connection" is forgotten after this long without a datagram (Docker: 90 s).
const UDP_IDLE: Duration = Duration::from_secs(90);
const UDP_BUF: usize = 65535;

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("cannot listen on {addr}/{proto}: {source}; is the port already in use?")]
    Bind {
        addr: SocketAddr,
        proto: Proto,
        source: std::io::Error,
    },
    #[error("no free host port in {ip}:{first}-{last}/{proto}")]
    RangeFull {
        ip: IpAddr,
        first: u16,
        last: u16,
        proto: Proto,
    },
    #[error("cannot read the address of the listener on {addr}: {source}")]
    LocalAddr {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Running publications of one container. Dropping it stops every listener and every
/// forwarded connection.
#[derive(Debug)]
pub struct PortProxy {
    bindings: Vec<PortBinding>,
    tasks: Vec<JoinHandle<()>>,
}

enum Listener {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

async fn bind_one(addr: SocketAddr, proto: Proto) -> std::io::Result<Listener> {
    Ok(match proto {
        Proto::Tcp => Listener::Tcp(TcpListener::bind(addr).await?),
        Proto::Udp => Listener::Udp(UdpSocket::bind(addr).await?),
    })
}

async fn bind(spec: &PortSpec) -> Result<(Listener, PortBinding), ProxyError> {
    let ip = listen_ip(spec);
    let (first, last) = spec.host_ports.unwrap_or((0, 0));
    let mut last_err = None;
    for port in first..=last {
        let addr = SocketAddr::new(ip, port);
        match bind_one(addr, spec.proto).await {
            Ok(l) => {
                let local = match &l {
                    Listener::Tcp(t) => t.local_addr(),
                    Listener::Udp(u) => u.local_addr(),
                }
                .map_err(|source| ProxyError::LocalAddr { addr, source })?;
                let binding = PortBinding {
                    container_port: spec.container_port,
                    proto: spec.proto,
                    host_ip: ip,
                    host_port: local.port(),
                };
                return Ok((l, binding));
            }
            Err(source) => {
                last_err = Some(ProxyError::Bind {
                    addr,
                    proto: spec.proto,
                    source,
                })
            }
        }
    }
    match last_err {
        Some(e) if first == last => Err(e),
        _ => Err(ProxyError::RangeFull {
            ip,
            first,
            last,
            proto: spec.proto,
        }),
    }
}

impl PortProxy {
    /// Binds every listener first (so a port conflict fails the whole start before any
    /// traffic flows), then forwards to `target` on each spec's container port. Must be
    /// called inside a tokio runtime, which then runs the forwarding.
    pub async fn start(specs: &[PortSpec], target: IpAddr) -> Result<PortProxy, ProxyError> {
        let mut bound = Vec::with_capacity(specs.len());
        for spec in specs {
            bound.push(bind(spec).await?);
        }
        let mut tasks = Vec::with_capacity(bound.len());
        let mut bindings = Vec::with_capacity(bound.len());
        for (listener, binding) in bound {
            let upstream = SocketAddr::new(target, binding.container_port);
            tracing::debug!(%binding, %upstream, "publishing port");
            tasks.push(match listener {
                Listener::Tcp(l) => tokio::spawn(serve_tcp(l, upstream)),
                Listener::Udp(u) => tokio::spawn(serve_udp(u, upstream)),
            });
            bindings.push(binding);
        }
        Ok(PortProxy { bindings, tasks })
    }

    /// The ports in effect, with the host ports the kernel chose for ephemeral requests.
    pub fn bindings(&self) -> &[PortBinding] {
        &self.bindings
    }

    /// Stops forwarding and closes the listeners.
    pub fn stop(self) {}
}

impl Drop for PortProxy {
    fn drop(&mut self) {
        // Aborting a serve task drops its JoinSet, which aborts the forwarding tasks too.
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn serve_tcp(listener: TcpListener, upstream: SocketAddr) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, peer)) => {
                    conns.spawn(async move {
                        if let Err(e) = forward_tcp(client, upstream).await {
                            tracing::debug!(%peer, %upstream, error = %e, "proxied connection ended with an error");
                        }
                    });
                }
                Err(e) => {
                    // Typically EMFILE; back off instead of spinning.
                    tracing::warn!(error = %e, "accept on published port failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn forward_tcp(mut client: TcpStream, upstream: SocketAddr) -> std::io::Result<()> {
    let mut server = TcpStream::connect(upstream).await?;
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    tokio::io::copy_bidirectional(&mut client, &mut server).await?;
    Ok(())
}

fn unspecified_like(addr: &SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        SocketAddr::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    }
}

async fn serve_udp(listener: UdpSocket, upstream: SocketAddr) {
    let listener = Arc::new(listener);
    // One upstream socket per client, so replies find their way back.
    let flows: Arc<Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>> = Arc::default();
    let mut replies = JoinSet::new();
    let mut buf = vec![0u8; UDP_BUF];
    loop {
        let (n, client) = tokio::select! {
            r = listener.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::debug!(error = %e, "recv on published UDP port failed");
                    continue;
                }
            },
            Some(_) = replies.join_next(), if !replies.is_empty() => continue,
        };
        let existing = flows.lock().ok().and_then(|m| m.get(&client).cloned());
        let sock = match existing {
            Some(s) => s,
            None => {
                let sock = match UdpSocket::bind(unspecified_like(&upstream)).await {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot open upstream UDP socket");
                        continue;
                    }
                };
                if let Err(e) = sock.connect(upstream).await {
                    tracing::debug!(%upstream, error = %e, "cannot reach container UDP port");
                    continue;
                }
                let sock = Arc::new(sock);
                if let Ok(mut m) = flows.lock() {
                    m.insert(client, sock.clone());
                }
                replies.spawn(relay_replies(
                    sock.clone(),
                    listener.clone(),
                    client,
                    flows.clone(),
                ));
                sock
            }
        };
        if let Err(e) = sock.send(&buf[..n]).await {
            tracing::debug!(%upstream, error = %e, "forwarding datagram failed");
        }
    }
}

async fn relay_replies(
    upstream: Arc<UdpSocket>,
    listener: Arc<UdpSocket>,
    client: SocketAddr,
    flows: Arc<Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>>,
) {
    let mut buf = vec![0u8; UDP_BUF];
    // Ends when idle, or when the container refused (ICMP port unreachable): the flow is
    // then forgotten and the next datagram opens a new one.
    while let Ok(Ok(n)) = tokio::time::timeout(UDP_IDLE, upstream.recv(&mut buf)).await {
        if let Err(e) = listener.send_to(&buf[..n], client).await {
            tracing::debug!(%client, error = %e, "returning datagram failed");
        }
    }
    if let Ok(mut m) = flows.lock() {
        m.remove(&client);
    }
}
