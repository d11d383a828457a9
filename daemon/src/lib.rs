//! kiln's build-cache service: `kiln daemon` serves the store to many clients over a
//! versioned HTTP/1.1 + JSON API (docs/API.md) on a unix socket or mutual-TLS TCP.
//!
//! This crate is the service machinery: the API types ([`api`]), addresses ([`host`]),
//! the root lock that keeps the daemon and in-process commands apart ([`lock`]),
//! listeners ([`listen`], [`tls`]), the config with its GC policy ([`config`], [`gc`]),
//! metrics ([`metrics`]), the routes, and the client ([`client`]). Builds themselves
//! run in the embedding program through [`backend::BuildBackend`]; other commands are
//! forwarded to the daemon's own kiln binary ([`command`]).
//!
//! API: [`server::run`] with [`server::DaemonOptions`] and a backend; [`client::Client`].

pub mod api;
pub mod backend;
mod build_routes;
pub mod client;
pub mod command;
pub mod config;
pub mod frames;
pub mod gc;
mod gc_usage;
pub mod host;
pub mod listen;
pub mod lock;
pub mod metrics;
pub mod outputs;
pub mod pty;
mod routes;
pub mod server;
mod slots;
pub mod tls;

pub use api::API_VERSION;
pub use host::Host;
