//! The container's init before exec: join cgroups, build the rootfs, drop privileges, exec.
//! Runs as pid 1 of the new pid namespace in the (single-threaded) forked helper.

use super::{exec, rootfs, Context, SetupError};
use crate::protocol::HelperConfig;
use nix::sched::{unshare, CloneFlags};
use std::os::fd::BorrowedFd;

/// Sets the container up and execs its process; returns only on failure.
pub(super) fn init(cfg: &HelperConfig, ctl: BorrowedFd<'_>) -> SetupError {
    match try_init(cfg, ctl) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

fn try_init(
    cfg: &HelperConfig,
    ctl: BorrowedFd<'_>,
) -> Result<std::convert::Infallible, SetupError> {
    // If the helper dies (killed with the caller), the container must die with it.
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
        .ctx(|| "setting the parent-death signal".into())?;
    unshare(CloneFlags::CLONE_NEWNS).ctx(|| "unshare(CLONE_NEWNS)".into())?;
    join_cgroups(cfg)?;
    // Best effort as Docker: old kernels lack cgroup namespaces.
    if let Err(e) = unshare(CloneFlags::CLONE_NEWCGROUP) {
        tracing::debug!("no cgroup namespace: {e}");
    }
    nix::unistd::setsid().ctx(|| "setsid".into())?;
    if cfg.spec.process.tty {
        // SAFETY: ioctl on fd 0, which the caller made the pty's slave side.
        let rc = unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) };
        if rc < 0 {
            return Err(nix::errno::Errno::last())
                .ctx(|| "making the pty the controlling terminal".into());
        }
    }
    // Device nodes and directories get exactly the modes asked for.
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    let created = rootfs::setup(cfg)?;
    // Only in a UTS namespace of our own: in the host's this would rename the host.
    if cfg.spec.namespaces.uts == crate::spec::NamespaceMode::Private {
        nix::unistd::sethostname(cfg.spec.effective_hostname()).ctx(|| "sethostname".into())?;
    }
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    exec::exec_process(cfg, ctl, created)
}

/// Writes "0" (the writer itself) to each join file. On v1 these are the `tasks` files:
/// moving only the calling thread lets the kernel skip its global threadgroup lock and the
/// RCU grace period that taking it costs (5–18 ms per start through `cgroup.procs`), and
/// this init is single-threaded, so its one thread is the whole process.
fn join_cgroups(cfg: &HelperConfig) -> Result<(), SetupError> {
    for file in &cfg.cgroup_procs {
        std::fs::write(file, "0").ctx(|| format!("joining cgroup {}", file.display()))?;
    }
    Ok(())
}
