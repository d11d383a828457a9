//! kiln's executor: runs one process in an isolated container, natively (kiln re-executes
//! itself as a small single-threaded helper, see [`helper`]) or through `runc` from an OCI
//! runtime bundle written from the same [`ContainerSpec`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), kiln_executor::ExecError> {
//! use kiln_executor::*;
//! let exec = Executor::new(ExecutorConfig::native("/usr/bin/kiln", "/run/kiln/containers"));
//! let spec = ContainerSpec::new("step1", Rootfs::Dir("/tmp/rootfs".into()), vec!["true".into()]);
//! let outcome = exec.run(&spec, RunOptions::default()).await?;
//! assert_eq!(outcome.exit_code(), 0);
//! # Ok(()) }
//! ```

pub mod bundle;
mod bundle_opts;
pub mod cgroups;
pub mod helper;
pub mod mountinfo;
mod native;
pub mod output;
mod protocol;
pub mod reclaim;
mod run;
mod runc;
pub mod seccomp;
pub mod securejoin;
pub mod spec;
mod state;
mod stdin;
mod upper;
pub mod user;

pub use output::{OutputLine, Stream};
pub use protocol::SetupFailure;
pub use run::{
    stdin_stream, ExecError, Executor, ExecutorConfig, ExitStatus, RunOptions, RunOutcome, Runtime,
    Stdin, StdinEvent, StdinHandle, StdinStream,
};
pub use spec::{
    capabilities_with, ContainerSpec, CpuQuota, Device, Limits, Mount, MountKind, NamespaceMode,
    Namespaces, NetworkMode, ProcessSpec, Rlimit, RlimitKind, Rootfs, SeccompMode,
};
