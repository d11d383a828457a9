//! Link, address and route changes over rtnetlink. kiln talks netlink directly instead of
//! spawning `ip`: a container start needs about ten link changes and each `ip` process
//! costs milliseconds. Every operation runs on a short-lived thread with its own
//! current-thread tokio runtime, because a netlink socket belongs to the network namespace
//! of the thread that opens it (so the thread can `setns` into a container's namespace
//! without touching the caller's threads) and because callers may or may not already be
//! inside a tokio runtime.

use std::future::Future;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use futures_util::TryStreamExt;
use nix::sched::{setns, CloneFlags};
use rtnetlink::packet_route::link::{InfoData, InfoVeth};
use rtnetlink::{new_connection, Handle, LinkBridge, LinkUnspec, LinkVeth, RouteMessageBuilder};

#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("cannot open network namespace {path}: {source}; is the container still running?")]
    OpenNetns {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot enter network namespace {path}: {source}")]
    EnterNetns {
        path: PathBuf,
        source: nix::errno::Errno,
    },
    #[error("cannot start the netlink worker: {0}")]
    Worker(std::io::Error),
    #[error("the netlink worker thread panicked during {0}")]
    WorkerPanicked(&'static str),
    #[error("netlink {op} failed: {source}")]
    Request {
        op: String,
        source: rtnetlink::Error,
    },
    #[error("interface {name} not found{}", .netns.as_ref().map(|p| format!(" in {}", p.display())).unwrap_or_default())]
    NoSuchLink {
        name: String,
        netns: Option<PathBuf>,
    },
}

impl NetlinkError {
    /// The errno the kernel answered with, if this was a kernel refusal.
    fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Request {
                source: rtnetlink::Error::NetlinkError(m),
                ..
            } => m.code.map(|c| -c.get()),
            _ => None,
        }
    }
}

fn req(op: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> NetlinkError {
    let op = op.into();
    move |source| NetlinkError::Request { op, source }
}

/// Runs `f` with a netlink handle opened in `netns` (the caller's namespace when `None`).
fn run<T, F, Fut>(netns: Option<&Path>, what: &'static str, f: F) -> Result<T, NetlinkError>
where
    T: Send,
    F: FnOnce(Handle) -> Fut + Send,
    Fut: Future<Output = Result<T, NetlinkError>>,
{
    std::thread::scope(|s| {
        let worker = std::thread::Builder::new()
            .name("kiln-netlink".into())
            .spawn_scoped(s, move || {
                if let Some(path) = netns {
                    let file =
                        std::fs::File::open(path).map_err(|source| NetlinkError::OpenNetns {
                            path: path.to_path_buf(),
                            source,
                        })?;
                    setns(&file, CloneFlags::CLONE_NEWNET).map_err(|source| {
                        NetlinkError::EnterNetns {
                            path: path.to_path_buf(),
                            source,
                        }
                    })?;
                }
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .build()
                    .map_err(NetlinkError::Worker)?;
                rt.block_on(async move {
                    let (conn, handle, _) = new_connection().map_err(NetlinkError::Worker)?;
                    let conn = tokio::spawn(conn);
                    let out = f(handle).await;
                    conn.abort();
                    out
                })
            })
            .map_err(NetlinkError::Worker)?;
        worker
            .join()
            .map_err(|_| NetlinkError::WorkerPanicked(what))?
    })
}

async fn link_index(handle: &Handle, name: &str) -> Result<Option<u32>, NetlinkError> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(Some(msg)) => Ok(Some(msg.header.index)),
        Ok(None) => Ok(None),
        Err(source) => {
            let e = NetlinkError::Request {
                op: format!("get link {name}"),
                source,
            };
            if e.errno() == Some(libc::ENODEV) {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

async fn require_link(
    handle: &Handle,
    name: &str,
    netns: Option<&Path>,
) -> Result<u32, NetlinkError> {
    link_index(handle, name)
        .await?
        .ok_or_else(|| NetlinkError::NoSuchLink {
            name: name.to_string(),
            netns: netns.map(Path::to_path_buf),
        })
}

async fn add_address(
    handle: &Handle,
    index: u32,
    ip: Ipv4Addr,
    prefix: u8,
    what: &str,
) -> Result<(), NetlinkError> {
    match handle
        .address()
        .add(index, ip.into(), prefix)
        .execute()
        .await
    {
        Ok(()) => Ok(()),
        Err(source) => {
            let e = NetlinkError::Request {
                op: format!("add address {ip}/{prefix} to {what}"),
                source,
            };
            // Already there (another kiln process or an earlier run set it): fine.
            if e.errno() == Some(libc::EEXIST) {
                Ok(())
            } else {
                Err(e)
            }
        }
    }
}

/// Creates bridge `name` with `gateway/prefix` unless it exists, and brings it up.
pub fn ensure_bridge(name: &str, gateway: Ipv4Addr, prefix: u8) -> Result<(), NetlinkError> {
    run(None, "ensure bridge", |handle| async move {
        let index = match link_index(&handle, name).await? {
            Some(i) => i,
            None => {
                if let Err(source) = handle
                    .link()
                    .add(LinkBridge::new(name).build())
                    .execute()
                    .await
                {
                    let e = NetlinkError::Request {
                        op: format!("create bridge {name}"),
                        source,
                    };
                    if e.errno() != Some(libc::EEXIST) {
                        return Err(e);
                    }
                }
                tracing::debug!(bridge = name, "created bridge");
                require_link(&handle, name, None).await?
            }
        };
        add_address(&handle, index, gateway, prefix, name).await?;
        handle
            .link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(req(format!("bring bridge {name} up")))
    })
}

/// Deletes link `name` in the caller's namespace; `false` when it did not exist.
pub fn delete_link(name: &str) -> Result<bool, NetlinkError> {
    run(None, "delete link", |handle| async move {
        let Some(index) = link_index(&handle, name).await? else {
            return Ok(false);
        };
        match handle.link().del(index).execute().await {
            Ok(()) => Ok(true),
            Err(source) => {
                let e = NetlinkError::Request {
                    op: format!("delete link {name}"),
                    source,
                };
                if e.errno() == Some(libc::ENODEV) {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    })
}

/// Whether link `name` exists in the caller's namespace.
pub fn link_exists(name: &str) -> Result<bool, NetlinkError> {
    run(None, "look up link", |handle| async move {
        Ok(link_index(&handle, name).await?.is_some())
    })
}

/// What `attach_veth` sets up.
#[derive(Debug, Clone)]
pub struct VethSpec {
    /// Host end, enslaved to `bridge`.
    pub host: String,
    pub bridge: String,
    pub netns: PathBuf,
    /// The container end's name, created directly inside `netns`.
    pub ifname: String,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub mac: [u8; 6],
    /// Installs the default route via this address when set.
    pub default_gateway: Option<Ipv4Addr>,
}

/// Creates the veth pair with one end inside the container's namespace, plugs the host end
/// into the bridge and configures the container end. On failure the pair is deleted again.
pub fn attach_veth(spec: &VethSpec) -> Result<(), NetlinkError> {
    let result = create_pair(spec).and_then(|()| configure_inside(spec));
    if result.is_err() {
        // Deleting either end removes both; the peer may already sit in the namespace.
        if let Err(e) = delete_link(&spec.host) {
            tracing::warn!(veth = %spec.host, error = %e, "cleanup after failed attach");
        }
    }
    result
}

fn create_pair(spec: &VethSpec) -> Result<(), NetlinkError> {
    let netns = std::fs::File::open(&spec.netns).map_err(|source| NetlinkError::OpenNetns {
        path: spec.netns.clone(),
        source,
    })?;
    run(None, "create veth", |handle| async move {
        use std::os::fd::AsRawFd;
        let bridge = require_link(&handle, &spec.bridge, None).await?;
        // The container end is born inside the namespace with its final name and MAC:
        // moving an existing device between namespaces costs ~15 ms of RCU grace
        // periods, creating it there does not.
        let peer = LinkUnspec::new_with_name(&spec.ifname)
            .setns_by_fd(netns.as_raw_fd())
            .address(spec.mac.to_vec())
            .build();
        let pair = LinkVeth::new(&spec.host, &spec.ifname)
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
            .build();
        handle
            .link()
            .add(pair)
            .execute()
            .await
            .map_err(req(format!(
                "create veth {} with {} in {}",
                spec.host,
                spec.ifname,
                spec.netns.display()
            )))?;
        let host = require_link(&handle, &spec.host, None).await?;
        handle
            .link()
            .set(
                LinkUnspec::new_with_index(host)
                    .controller(bridge)
                    .up()
                    .build(),
            )
            .execute()
            .await
            .map_err(req(format!(
                "plug {} into bridge {}",
                spec.host, spec.bridge
            )))
    })
}

fn configure_inside(spec: &VethSpec) -> Result<(), NetlinkError> {
    let netns = spec.netns.as_path();
    run(
        Some(netns),
        "configure container interface",
        |handle| async move {
            let lo = require_link(&handle, "lo", Some(netns)).await?;
            handle
                .link()
                .set(LinkUnspec::new_with_index(lo).up().build())
                .execute()
                .await
                .map_err(req("bring lo up"))?;
            let index = require_link(&handle, &spec.ifname, Some(netns)).await?;
            add_address(&handle, index, spec.ip, spec.prefix, &spec.ifname).await?;
            handle
                .link()
                .set(LinkUnspec::new_with_index(index).up().build())
                .execute()
                .await
                .map_err(req(format!("bring {} up", spec.ifname)))?;
            if let Some(gw) = spec.default_gateway {
                let route = RouteMessageBuilder::<Ipv4Addr>::new()
                    .gateway(gw)
                    .output_interface(index)
                    .build();
                handle
                    .route()
                    .add(route)
                    .execute()
                    .await
                    .map_err(req(format!("add default route via {gw}")))?;
            }
            Ok(())
        },
    )
}
