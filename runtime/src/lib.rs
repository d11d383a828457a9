//! kiln's container runtime: container records and their state machine in the store's
//! database, the per-container monitor process (kiln re-executed, see [`monitor`]) that runs
//! a detached container through the executor, json-file logs, restart policies with backoff,
//! exec into running containers, and volumes.
//!
//! Call [`monitor::maybe_run`] and [`exec::maybe_run`] first in `main` (beside the executor's
//! helper hook).

pub mod attach;
pub mod changes;
pub mod commit;
pub mod config;
pub mod copy;
pub mod create;
pub mod events;
pub mod exec;
pub mod freezer;
pub mod health;
pub mod ids;
pub mod isolation;
pub mod lifecycle;
pub mod logs;
pub mod monitor;
pub mod mounts;
pub mod network;
pub mod procs;
pub mod record;
pub mod rename;
pub mod restart;
pub mod rootfs;
mod seed;
pub mod sigproxy;
pub mod stats;
pub mod timefmt;
pub mod tty;
pub mod update;
pub mod volume;

pub use config::{ContainerConfig, MountConfig, MountSource};
pub use create::{create, CreateError, CreateRequest};
pub use lifecycle::LifecycleError;
pub use record::{ContainerRecord, State};
pub use restart::RestartPolicy;
