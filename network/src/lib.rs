//! kiln's container networking.
//!
//! - [`NetworkManager`] owns bridge networks (create/list/inspect/remove, the default
//!   `bridge` network on `kiln0` made on demand) and container attachments (veth pairs,
//!   addresses from persistent IPAM, managed hosts files, nftables rules).
//! - [`PortProxy`] publishes ports: userland TCP/UDP forwarding from host addresses
//!   (127.0.0.1 included) to a container, hosted by the container's monitor process.
//! - [`ports`], [`hosts`], [`links`] parse and render Docker's flags and files.
//!
//! State lives under `<root>/network/state.json`, changed under a file lock and replaced
//! atomically, so several kiln processes can share it.

mod attach;
pub mod firewall;
pub mod hosts;
pub mod ipam;
pub mod links;
mod manager;
pub mod netlink;
mod peers;
pub mod ports;
pub mod proxy;
mod rename;
pub mod state;
pub mod store;
pub mod subnet;

pub use attach::{parse_mac, AttachRequest, Attachment, ResolvedLink};
pub use manager::{CreateNetwork, ManagerConfig, ManagerError, NetworkManager};
pub use ports::{PortBinding, PortSpec, Proto};
pub use proxy::{PortProxy, ProxyError};
pub use state::{Endpoint, Network};
