//! The helper's IPC, PID and UTS namespaces as the spec asks: new ones (unshared together
//! with the network namespace), the host's (left alone), or another container's (joined
//! with setns; a joined PID namespace applies to the init forked next).

use super::{Context, SetupError};
use crate::spec::{ContainerSpec, NamespaceMode};
use nix::sched::{setns, CloneFlags};

/// Joins the namespaces the spec names and returns the flags of those to unshare.
pub(super) fn enter(spec: &ContainerSpec) -> Result<CloneFlags, SetupError> {
    let mut unshare = CloneFlags::empty();
    for (mode, flag, kind) in [
        (&spec.namespaces.uts, CloneFlags::CLONE_NEWUTS, "uts"),
        (&spec.namespaces.ipc, CloneFlags::CLONE_NEWIPC, "ipc"),
        (&spec.namespaces.pid, CloneFlags::CLONE_NEWPID, "pid"),
    ] {
        match mode {
            NamespaceMode::Private => unshare |= flag,
            NamespaceMode::Host => {}
            NamespaceMode::Join(path) => {
                let ns = std::fs::File::open(path).ctx(|| {
                    format!(
                        "opening the {kind} namespace {} (has the container it belongs to stopped?)",
                        path.display()
                    )
                })?;
                setns(ns, flag)
                    .ctx(|| format!("joining the {kind} namespace {}", path.display()))?;
            }
        }
    }
    Ok(unshare)
}
