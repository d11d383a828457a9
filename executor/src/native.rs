//! Running a container with kiln's own helper: prepare state and cgroups, start the helper
//! (the helper binary re-executed with argv[0] = HELPER_ARG0 and the control socket on fd 3),
//! stream output, enforce timeout and cancellation, collect the status, clean up.

use crate::cgroups::Cgroups;
use crate::helper::{CONTROL_FD, HELPER_ARG0};
use crate::output::{pump, pump_child, Stream};
use crate::protocol::{self, FromHelper, HelperConfig, ToHelper};
use crate::run::{ExecError, ExecutorConfig, ExitStatus, RunOptions, RunOutcome, Stdin};
use crate::spec::{ContainerSpec, Rootfs, SeccompMode};
use crate::state::StateDir;
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use std::future::Future;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::process::Stdio;
use std::time::Instant;
use tokio::io::unix::AsyncFd;
use tokio::task::JoinHandle;

/// Everything a run owns. Field order is drop order: closing the socket makes the helper
/// kill the container, the child handle SIGKILLs the helper (kill_on_drop), then cgroups
/// (waiting for them to empty) and the state directory go.
struct Running {
    ctl: AsyncFd<OwnedFd>,
    child: tokio::process::Child,
    pumps: Vec<JoinHandle<()>>,
    _feeder: Option<crate::stdin::Feeder>,
    cgroups: Cgroups,
    _state: StateDir,
}

fn protocol_err(e: impl std::fmt::Display) -> ExecError {
    ExecError::Protocol(e.to_string())
}

pub(crate) async fn run(
    cfg: &ExecutorConfig,
    spec: &ContainerSpec,
    opts: RunOptions,
    cancel: impl Future<Output = ()>,
) -> Result<RunOutcome, ExecError> {
    let started = Instant::now();
    let state = StateDir::create(&cfg.state_dir, spec)?;
    let cgroups = Cgroups::create_for(spec)?;
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| protocol_err(format!("socketpair: {e}")))?;

    let mut cmd = tokio::process::Command::new(&cfg.helper);
    cmd.arg0(HELPER_ARG0)
        .env_clear()
        .current_dir("/")
        .kill_on_drop(true);
    let tty = spec.process.tty;
    let live = crate::stdin::take_live(&opts.stdin)?;
    let immediate = live.is_some();
    let mut live = live;
    let mut early = Vec::new();
    let mut pty_master: Option<OwnedFd> = None;
    if tty {
        let pty =
            nix::pty::openpty(None, None).map_err(|e| protocol_err(format!("openpty: {e}")))?;
        let dup = |fd: &OwnedFd| {
            fd.try_clone()
                .map(Stdio::from)
                .map_err(|e| protocol_err(format!("dup pty: {e}")))
        };
        // A window size the caller sent before the start applies before the process
        // exists, so its first look at the terminal already sees it.
        if let Some(rx) = live.as_mut() {
            early = crate::stdin::apply_early_resizes(&pty.master, rx);
        }
        cmd.stdin(dup(&pty.slave)?)
            .stdout(dup(&pty.slave)?)
            .stderr(dup(&pty.slave)?);
        pty_master = Some(pty.master);
    } else {
        let stdin = match opts.stdin {
            Stdin::Null => Stdio::null(),
            Stdin::Bytes(_) | Stdin::Stream(_) => Stdio::piped(),
        };
        cmd.stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
    }
    let child_fd = theirs.as_raw_fd();
    // SAFETY: the closure runs between fork and exec and only calls async-signal-safe
    // dup2/fcntl on a descriptor that stays open until spawn returns.
    unsafe {
        cmd.pre_exec(move || {
            if child_fd == CONTROL_FD {
                // dup2 onto itself would keep FD_CLOEXEC; clear it instead.
                if libc::fcntl(child_fd, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(child_fd, CONTROL_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|source| ExecError::Spawn {
        what: "container helper",
        path: cfg.helper.clone(),
        source,
    })?;
    drop(theirs);
    drop(cmd);

    let mut pumps = Vec::new();
    let mut feeder = None;
    if let Some(master) = pty_master {
        if let Some(rx) = live {
            let dup = master
                .try_clone()
                .map_err(|e| protocol_err(format!("dup pty master: {e}")))?;
            feeder = Some(crate::stdin::feed_pty(dup, early, rx));
        }
        let file = tokio::fs::File::from_std(std::fs::File::from(master));
        pumps.push(tokio::spawn(pump(
            file,
            Stream::Stdout,
            opts.output.clone(),
            immediate,
        )));
    } else {
        pumps = pump_child(&mut child, &opts.output, immediate);
        feeder = crate::stdin::feed_child(&mut child, live, opts.stdin);
    }
    nix::fcntl::fcntl(
        ours.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .map_err(|e| protocol_err(format!("O_NONBLOCK: {e}")))?;
    // SAFETY: `ours` is an open socket owned by the AsyncFd for its whole lifetime.
    let ctl = unsafe { AsyncFd::register(ours) }.map_err(protocol_err)?;
    let mut running = Running {
        ctl,
        child,
        pumps,
        _feeder: feeder,
        cgroups,
        _state: state,
    };

    let config = HelperConfig {
        spec: spec.clone(),
        rootfs_mountpoint: running._state.rootfs(),
        etc_files: running._state.etc_files(),
        cgroup_procs: running.cgroups.join_files(),
        seccomp_program: seccomp_program(spec)?,
    };
    protocol::send(
        running.ctl.get_ref().as_fd(),
        &ToHelper::Config(Box::new(config)),
    )
    .map_err(|e| protocol_err(format!("sending the config: {e}")))?;

    let outcome = supervise(&mut running, spec, cancel, started).await;
    let duration = started.elapsed();
    finish(running, spec, outcome, duration).await
}

/// The compiled default filter for a container that runs under it (built once per
/// process, shipped to every helper).
fn seccomp_program(spec: &ContainerSpec) -> Result<Option<Vec<u8>>, ExecError> {
    if spec.seccomp != SeccompMode::Default || spec.privileged {
        return Ok(None);
    }
    Ok(Some(crate::seccomp::default_program()?.to_vec()))
}

/// What the helper told us.
#[derive(Default)]
struct Report {
    status: Option<ExitStatus>,
    setup_error: Option<(crate::protocol::SetupFailure, String)>,
    created: Vec<String>,
    timed_out: bool,
    cancelled: bool,
}

async fn recv(ctl: &AsyncFd<OwnedFd>) -> std::io::Result<Option<FromHelper>> {
    loop {
        let mut guard = ctl.readable().await?;
        match guard.try_io(|fd| protocol::recv::<FromHelper>(fd.get_ref().as_fd())) {
            Ok(result) => return result,
            Err(_would_block) => continue,
        }
    }
}

async fn supervise(
    running: &mut Running,
    spec: &ContainerSpec,
    cancel: impl Future<Output = ()>,
    started: Instant,
) -> Result<Report, ExecError> {
    let mut report = Report::default();
    tokio::pin!(cancel);
    let deadline = spec
        .timeout
        .map(|t| tokio::time::Instant::from_std(started + t));
    let sleep = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now));
    tokio::pin!(sleep);
    let kill = |running: &Running| {
        protocol::send(
            running.ctl.get_ref().as_fd(),
            &ToHelper::Signal(libc::SIGKILL),
        )
        .map_err(|e| protocol_err(format!("asking the helper to kill the container: {e}")))
    };
    loop {
        tokio::select! {
            msg = recv(&running.ctl) => match msg.map_err(protocol_err)? {
                Some(FromHelper::Started { pid }) => {
                    tracing::debug!(id = %spec.id, pid, "container started");
                }
                Some(FromHelper::MountpointsCreated { paths }) => report.created = paths,
                Some(FromHelper::SetupFailed { kind, message }) => {
                    // The first failure is the cause; a later one (the init noticing
                    // that the helper gave up on it) is a consequence.
                    report.setup_error.get_or_insert((kind, message));
                }
                Some(FromHelper::Exited { code }) => {
                    report.status = Some(ExitStatus::Code(code));
                    return Ok(report);
                }
                Some(FromHelper::Signaled { signal }) => {
                    report.status = Some(ExitStatus::Signal(signal));
                    return Ok(report);
                }
                None => return Ok(report),
            },
            _ = &mut sleep, if deadline.is_some() && !report.timed_out => {
                tracing::info!(id = %spec.id, "timeout: killing the container");
                report.timed_out = true;
                kill(running)?;
            }
            _ = &mut cancel, if !report.cancelled => {
                tracing::info!(id = %spec.id, "cancelled: killing the container");
                report.cancelled = true;
                kill(running)?;
            }
        }
    }
}

async fn finish(
    mut running: Running,
    spec: &ContainerSpec,
    report: Result<Report, ExecError>,
    duration: std::time::Duration,
) -> Result<RunOutcome, ExecError> {
    let helper_status = running.child.wait().await;
    // All output is delivered before we return: the pipes close once the pid namespace
    // is gone.
    for p in running.pumps.drain(..) {
        let _ = p.await;
    }
    let oom_killed = running.cgroups.oom_killed();
    running.cgroups.remove()?;
    let report = report?;
    let upper = match &spec.rootfs {
        Rootfs::Overlay { upper, lower, .. } => {
            crate::upper::remove_created_mountpoints(upper, &report.created);
            crate::upper::remove_copied_up_parents(upper, lower, &report.created);
            Some(upper.clone())
        }
        Rootfs::Dir(dir) => {
            crate::upper::remove_created_mountpoints(dir, &report.created);
            None
        }
    };
    if let Some((kind, message)) = report.setup_error {
        return Err(ExecError::Setup {
            id: spec.id.clone(),
            kind,
            message,
        });
    }
    let Some(status) = report.status else {
        return Err(ExecError::Protocol(format!(
            "the helper ended ({helper_status:?}) without reporting the container's exit"
        )));
    };
    Ok(RunOutcome {
        status,
        oom_killed: oom_killed?,
        timed_out: report.timed_out,
        cancelled: report.cancelled,
        duration,
        upper,
    })
}
