//! The re-executed helper: kiln starts itself with argv[0] = [`HELPER_ARG0`] and the control
//! socket on fd [`CONTROL_FD`]. The helper is a fresh, single-threaded process (no tokio, no
//! clone from a threaded parent): it unshares the uts/ipc/pid/(net) namespaces and forks the
//! container's init (pid 1 of the new pid namespace), which unshares its own mount and
//! cgroup namespaces, sets up the rootfs and execs the user's process. The helper stays in
//! the caller's mount namespace and supervises: forwards signals from the caller, kills the
//! container when the caller's end of the socket closes (cancelled or killed caller; then it
//! also removes the container's cgroups and state itself), and reports the exit status.
//!
//! Nothing of the mechanism reaches the container: the process gets exactly the spec's argv
//! and environment (the helper starts with an empty environment), and fd 3 is close-on-exec.

mod container;
mod devices;
mod exec;
mod hostdev;
mod init;
mod mounts;
mod namespaces;
mod rootfs;

use crate::protocol::{self, FromHelper, HelperConfig, SetupFailure, ToHelper};
use crate::spec::NetworkMode;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// argv[0] that turns the kiln binary into the container helper.
pub const HELPER_ARG0: &str = "kiln-container-helper";
/// The inherited control socket's fd number in the helper.
pub const CONTROL_FD: i32 = 3;

/// Why container setup failed, with the step and path involved.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SetupError {
    #[error("{what}: {source}")]
    Sys {
        what: String,
        #[source]
        source: nix::Error,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    User(#[from] crate::user::UserError),
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error("exec {path:?}: {message}")]
    Exec {
        kind: SetupFailure,
        path: String,
        message: String,
    },
}

impl SetupError {
    fn kind(&self) -> SetupFailure {
        match self {
            SetupError::Exec { kind, .. } => *kind,
            _ => SetupFailure::Other,
        }
    }
}

/// Adds "what was being done" to low-level errors.
pub(crate) trait Context<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, SetupError>;
}

impl<T> Context<T> for nix::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, SetupError> {
        self.map_err(|source| SetupError::Sys {
            what: what(),
            source,
        })
    }
}

impl<T> Context<T> for io::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, SetupError> {
        self.map_err(|source| SetupError::Io {
            what: what(),
            source,
        })
    }
}

/// Call as the very first thing in `main`, before any thread exists: when this process was
/// started as the helper, it runs the container and exits; otherwise it returns at once.
pub fn maybe_run() {
    let is_helper = std::env::args_os()
        .next()
        .is_some_and(|arg0| arg0 == HELPER_ARG0);
    if !is_helper {
        return;
    }
    let code = match run_helper() {
        Ok(code) => code,
        Err(err) => {
            // The caller reads our stderr only when the control socket itself failed.
            eprintln!("kiln container helper: {err}");
            125
        }
    };
    std::process::exit(code);
}

fn run_helper() -> Result<i32, SetupError> {
    // SAFETY-relevant check: fd 3 must be the socket our parent passed, nothing else.
    let stat = nix::sys::stat::fstat(CONTROL_FD).ctx(|| {
        format!("fd {CONTROL_FD} is not open: the helper must be started by kiln's executor")
    })?;
    if stat.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(SetupError::Invalid(format!(
            "fd {CONTROL_FD} is not a socket: the helper must be started by kiln's executor"
        )));
    }
    // SAFETY: fd 3 is open (fstat succeeded) and owned by nobody else in this fresh process.
    let ctl = unsafe { OwnedFd::from_raw_fd(CONTROL_FD) };
    nix::fcntl::fcntl(
        ctl.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )
    .ctx(|| "marking the control socket close-on-exec".into())?;

    // Whatever else the caller leaked to us (a descriptor opened without O_CLOEXEC) must
    // not reach the container, not even during setup: a directory fd reachable as
    // /proc/self/fd/N would be a way out (CVE-2024-21626).
    // SAFETY: plain syscall on our own descriptor table; only fds above the socket go.
    if unsafe { libc::syscall(libc::SYS_close_range, CONTROL_FD as u32 + 1, u32::MAX, 0) } < 0 {
        return Err(nix::errno::Errno::last()).ctx(|| "closing inherited descriptors".into());
    }
    let cfg = match protocol::recv::<ToHelper>(ctl.as_fd())
        .ctx(|| "reading the container config".into())?
    {
        Some(ToHelper::Config(cfg)) => cfg,
        Some(other) => {
            return Err(SetupError::Invalid(format!(
                "expected the container config first, got {other:?}"
            )))
        }
        None => return Ok(125),
    };

    if let Err(err) = unshare_namespaces(&cfg) {
        report_failure(ctl.as_fd(), &err);
        return Ok(125);
    }
    // SAFETY: this process is single-threaded (a fresh exec that started no threads).
    match unsafe { fork() }.ctx(|| "forking the container init".into())? {
        ForkResult::Child => {
            // Only returns on failure; success ends in execve.
            let err = container::init(&cfg, ctl.as_fd());
            report_failure(ctl.as_fd(), &err);
            // SAFETY: _exit skips destructors and atexit handlers, which belong to the helper.
            unsafe { libc::_exit(125) }
        }
        ForkResult::Parent { child } => supervise(child, ctl, &cfg),
    }
}

fn unshare_namespaces(cfg: &HelperConfig) -> Result<(), SetupError> {
    // Not the mount namespace: the init unshares that itself, so the helper stays in the
    // caller's and is not dragged into the container's root by its pivot_root (which
    // moves every process of the namespace rooted at the old root). That keeps the host's
    // paths usable for `orphan_cleanup`.
    // uts/ipc/pid: new ones, the host's, or joined (`--ipc container:…`).
    let mut flags = namespaces::enter(&cfg.spec)?;
    match &cfg.spec.network {
        NetworkMode::None => flags |= CloneFlags::CLONE_NEWNET,
        NetworkMode::Join(path) => {
            let ns = std::fs::File::open(path)
                .ctx(|| format!("opening the network namespace {}", path.display()))?;
            nix::sched::setns(ns, CloneFlags::CLONE_NEWNET)
                .ctx(|| format!("joining the network namespace {}", path.display()))?;
        }
        NetworkMode::Host => {}
    }
    // The cgroup namespace is unshared by the init after it joined its cgroups.
    unshare(flags).ctx(|| format!("unshare({flags:?})"))
}

fn report_failure(ctl: BorrowedFd<'_>, err: &SetupError) {
    let msg = FromHelper::SetupFailed {
        kind: err.kind(),
        message: err.to_string(),
    };
    if protocol::send(ctl, &msg).is_err() {
        eprintln!("kiln container helper: {err}");
    }
}

/// Waits for the container's init, relaying signals from the caller; returns the helper's
/// exit code (0 once the status was reported).
fn supervise(child: Pid, ctl: OwnedFd, cfg: &HelperConfig) -> Result<i32, SetupError> {
    protocol::send(
        ctl.as_fd(),
        &FromHelper::Started {
            pid: child.as_raw(),
        },
    )
    .ctx(|| "reporting the container start".into())?;
    // Let the container's output pipes close as soon as the container is gone.
    detach_stdio();
    let pidfd = pidfd_open(child).ctx(|| format!("pidfd_open({child})"))?;
    let mut caller_alive = true;
    loop {
        let mut fds = vec![PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        if caller_alive {
            fds.push(PollFd::new(ctl.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).ctx(|| "polling the container".into()),
            Ok(_) => {}
        }
        let exited = fds[0].any().unwrap_or(false);
        let ctl_ready = fds.get(1).and_then(|f| f.any()).unwrap_or(false);
        if ctl_ready {
            match protocol::recv::<ToHelper>(ctl.as_fd()) {
                Ok(Some(ToHelper::Signal(sig))) => signal_pidfd(&pidfd, sig),
                Ok(Some(ToHelper::Config(_))) => {}
                // The caller is gone or cancelled: nobody wants this container any more.
                Ok(None) | Err(_) => {
                    caller_alive = false;
                    signal_pidfd(&pidfd, Signal::SIGKILL as i32);
                }
            }
        }
        if exited {
            let msg = match waitpid(child, None).ctx(|| format!("waitpid({child})"))? {
                WaitStatus::Exited(_, code) => FromHelper::Exited { code },
                WaitStatus::Signaled(_, sig, _) => FromHelper::Signaled { signal: sig as i32 },
                other => {
                    return Err(SetupError::Invalid(format!(
                        "unexpected wait status {other:?}"
                    )))
                }
            };
            // The caller may have gone; then nobody needs the status.
            let _ = protocol::send(ctl.as_fd(), &msg);
            if !caller_alive {
                orphan_cleanup(cfg);
            }
            return Ok(0);
        }
    }
}

/// The caller vanished (killed, or it dropped the run): remove what it would have removed,
/// so a killed kiln leaves no cgroups or state behind. Everything here is idempotent, as a
/// caller that is still alive (a dropped run) cleans up concurrently.
fn orphan_cleanup(cfg: &HelperConfig) {
    // The container's processes may take a moment to leave after SIGKILL.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    for procs in &cfg.cgroup_procs {
        let Some(dir) = procs.parent() else { continue };
        loop {
            match std::fs::remove_dir(dir) {
                Err(e)
                    if e.raw_os_error() == Some(libc::EBUSY)
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                _ => break,
            }
        }
    }
    // The rootfs was mounted only in the container's mount namespace, gone with its init.
    for (_, file) in &cfg.etc_files {
        let _ = std::fs::remove_file(file);
    }
    let _ = std::fs::remove_dir(&cfg.rootfs_mountpoint);
    if let Some(state) = cfg.rootfs_mountpoint.parent() {
        let _ = std::fs::remove_dir(state.join("etc"));
        let _ = std::fs::remove_file(state.join(crate::reclaim::LOCK));
        let _ = std::fs::remove_dir(state);
    }
}

fn detach_stdio() {
    if let Ok(null) = nix::fcntl::open(
        "/dev/null",
        nix::fcntl::OFlag::O_RDWR,
        nix::sys::stat::Mode::empty(),
    ) {
        for fd in 0..3 {
            let _ = nix::unistd::dup2(null, fd);
        }
        if null > 2 {
            let _ = nix::unistd::close(null);
        }
    }
}

fn pidfd_open(pid: Pid) -> nix::Result<OwnedFd> {
    // SAFETY: plain syscall; on success the kernel returns a new fd we own.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return Err(nix::errno::Errno::last());
    }
    // SAFETY: fd is a fresh descriptor from the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn signal_pidfd(pidfd: &OwnedFd, sig: i32) {
    // SAFETY: pidfd_send_signal on our own pidfd; a pidfd cannot hit a recycled pid.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc < 0 {
        eprintln!(
            "kiln container helper: signal {sig}: {}",
            io::Error::last_os_error()
        );
    }
}

/// overlayfs mount options for a rootfs (shared with the runc path, which mounts on the host).
pub(crate) fn overlay_data(
    lower: &[std::path::PathBuf],
    upper: &std::path::Path,
    work: &std::path::Path,
    empty_dir: &std::path::Path,
) -> Result<String, SetupError> {
    rootfs::overlay_options(lower, upper, work, empty_dir)
}
