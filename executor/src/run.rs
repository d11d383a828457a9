//! The caller-facing API: an [`Executor`] runs a [`ContainerSpec`] with the configured
//! runtime and returns how the process ended, streaming its output while it runs.

use crate::output::OutputLine;
use crate::protocol::SetupFailure;
use crate::spec::ContainerSpec;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// Which engine runs containers.
#[derive(Debug, Clone)]
pub enum Runtime {
    /// kiln's own helper (the kiln binary re-executed).
    Native,
    /// An OCI runtime binary with runc's command line (`runc`).
    Runc { binary: PathBuf },
}

#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// The binary that acts as the helper when started with argv[0] =
    /// [`crate::helper::HELPER_ARG0`]: the kiln binary (which calls
    /// [`crate::helper::maybe_run`] first thing in `main`).
    pub helper: PathBuf,
    /// Where per-container state (rootfs mountpoint, /etc files, runc bundles) lives.
    pub state_dir: PathBuf,
    pub runtime: Runtime,
}

impl ExecutorConfig {
    pub fn native(helper: impl Into<PathBuf>, state_dir: impl Into<PathBuf>) -> Self {
        ExecutorConfig {
            helper: helper.into(),
            state_dir: state_dir.into(),
            runtime: Runtime::Native,
        }
    }

    pub fn runc(binary: impl Into<PathBuf>, state_dir: impl Into<PathBuf>) -> Self {
        ExecutorConfig {
            helper: PathBuf::new(),
            state_dir: state_dir.into(),
            runtime: Runtime::Runc {
                binary: binary.into(),
            },
        }
    }
}

/// The container's stdin.
#[derive(Debug, Clone, Default)]
pub enum Stdin {
    #[default]
    Null,
    /// These bytes, then end-of-file.
    Bytes(Vec<u8>),
    /// Live input fed through a [`StdinHandle`] while the container runs (from
    /// [`stdin_stream`]); with a tty, also window-size changes. Output is then delivered
    /// as it is read (an unterminated line such as a shell prompt arrives at once, as a
    /// `partial` piece) rather than line by line.
    Stream(StdinStream),
}

/// One thing the caller sends to a running container's stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StdinEvent {
    Data(Vec<u8>),
    /// The terminal's new size (tty only; ignored otherwise).
    Resize {
        rows: u16,
        cols: u16,
    },
    /// End of input: the container's stdin pipe is closed (ignored with a tty).
    Close,
}

/// The receiving side of a live stdin, taken by the run it is given to (a clone shares the
/// same stream; only one run can consume it).
#[derive(Debug, Clone)]
pub struct StdinStream(
    std::sync::Arc<std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<StdinEvent>>>>,
);

impl StdinStream {
    pub(crate) fn take(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<StdinEvent>> {
        self.0.lock().ok().and_then(|mut r| r.take())
    }
}

/// Feeds a [`Stdin::Stream`]; cheap to clone. When every handle is dropped the input ends
/// as with [`StdinHandle::close`].
#[derive(Debug, Clone)]
pub struct StdinHandle(UnboundedSender<StdinEvent>);

impl StdinHandle {
    /// Queues bytes for the container's stdin; false once the run is over.
    pub fn write(&self, data: Vec<u8>) -> bool {
        self.0.send(StdinEvent::Data(data)).is_ok()
    }

    /// Sets the container terminal's window size (the process gets SIGWINCH).
    pub fn resize(&self, rows: u16, cols: u16) -> bool {
        self.0.send(StdinEvent::Resize { rows, cols }).is_ok()
    }

    /// Ends the input (EOF on the container's stdin pipe).
    pub fn close(&self) -> bool {
        self.0.send(StdinEvent::Close).is_ok()
    }
}

/// A live stdin: give the [`Stdin`] to [`RunOptions`], feed it through the handle.
pub fn stdin_stream() -> (StdinHandle, Stdin) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    (
        StdinHandle(tx),
        Stdin::Stream(StdinStream(std::sync::Arc::new(std::sync::Mutex::new(
            Some(rx),
        )))),
    )
}

/// Per-run I/O.
#[derive(Debug, Default)]
pub struct RunOptions {
    /// Receives stdout/stderr lines while the process runs; all lines are sent before
    /// `run` returns.
    pub output: Option<UnboundedSender<OutputLine>>,
    pub stdin: Stdin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
}

/// How a container ended.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub status: ExitStatus,
    /// The kernel's OOM killer killed a process of the container.
    pub oom_killed: bool,
    /// Killed because `spec.timeout` passed.
    pub timed_out: bool,
    /// Killed because the caller's cancel future completed.
    pub cancelled: bool,
    /// From the start of `run` to the process's exit.
    pub duration: Duration,
    /// The rootfs' upper directory (overlay rootfs only), ready to become a layer.
    pub upper: Option<PathBuf>,
}

impl RunOutcome {
    /// Docker's convention: the exit code, or 128 + signal (an OOM kill is 137).
    pub fn exit_code(&self) -> i32 {
        match self.status {
            ExitStatus::Code(c) => c,
            ExitStatus::Signal(s) => 128 + s,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("invalid container spec: {0}")]
    InvalidSpec(String),
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    #[error(transparent)]
    Bundle(#[from] crate::bundle::BundleError),
    #[error("compiling the default seccomp profile: {0}")]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error("starting {what} {path}: {source}")]
    Spawn {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("talking to the container helper: {0}")]
    Protocol(String),
    #[error("container {id}: {message}")]
    Setup {
        id: String,
        kind: SetupFailure,
        message: String,
    },
    #[error("runc: {0}")]
    Runc(String),
}

impl ExecError {
    /// Docker's exit code for a container that could not run: 127 command not found, 126
    /// not executable, 125 anything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            ExecError::Setup {
                kind: SetupFailure::NotFound,
                ..
            } => 127,
            ExecError::Setup {
                kind: SetupFailure::NotExecutable,
                ..
            } => 126,
            _ => 125,
        }
    }
}

/// Runs containers; cheap to clone and share. `run`/`run_until` need a tokio runtime with
/// I/O and time enabled (`enable_all`); `run_blocking` brings its own.
#[derive(Debug, Clone)]
pub struct Executor {
    cfg: ExecutorConfig,
}

impl Executor {
    /// An executor; first removes what containers of dead callers left in its state
    /// directory and cgroups (see [`crate::reclaim`]).
    pub fn new(cfg: ExecutorConfig) -> Self {
        crate::reclaim::reclaim(&cfg.state_dir);
        Executor { cfg }
    }

    pub fn config(&self) -> &ExecutorConfig {
        &self.cfg
    }

    /// Runs the container to completion. Dropping the returned future kills the container
    /// and cleans up (cgroups, mounts, state) before the drop returns.
    pub async fn run(
        &self,
        spec: &ContainerSpec,
        opts: RunOptions,
    ) -> Result<RunOutcome, ExecError> {
        self.run_until(spec, opts, std::future::pending()).await
    }

    /// [`Executor::run`] for callers without a tokio runtime (a private current-thread
    /// runtime drives it).
    pub fn run_blocking(
        &self,
        spec: &ContainerSpec,
        opts: RunOptions,
    ) -> Result<RunOutcome, ExecError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ExecError::Protocol(format!("starting a tokio runtime: {e}")))?;
        rt.block_on(self.run(spec, opts))
    }

    /// As [`Executor::run`], but kills the container when `cancel` completes first (the
    /// outcome then says `cancelled`).
    pub async fn run_until(
        &self,
        spec: &ContainerSpec,
        opts: RunOptions,
        cancel: impl Future<Output = ()>,
    ) -> Result<RunOutcome, ExecError> {
        validate(spec)?;
        match &self.cfg.runtime {
            Runtime::Native => crate::native::run(&self.cfg, spec, opts, cancel).await,
            Runtime::Runc { binary } => {
                crate::runc::run(binary, &self.cfg.state_dir, spec, opts, cancel).await
            }
        }
    }
}

fn validate(spec: &ContainerSpec) -> Result<(), ExecError> {
    let id_ok = !spec.id.is_empty()
        && spec.id.len() <= 64
        && spec
            .id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && !spec.id.starts_with('.');
    if !id_ok {
        return Err(ExecError::InvalidSpec(format!(
            "id {:?} must be 1-64 characters of [A-Za-z0-9_.-], not starting with '.'",
            spec.id
        )));
    }
    if spec.process.args.is_empty() {
        return Err(ExecError::InvalidSpec(
            "no command given (empty args)".into(),
        ));
    }
    for m in &spec.mounts {
        if !m.destination.starts_with('/') {
            return Err(ExecError::InvalidSpec(format!(
                "mount destination {:?} must be absolute",
                m.destination
            )));
        }
    }
    let check_dir = |p: &Path, what: &str| {
        if p.is_dir() {
            Ok(())
        } else {
            Err(ExecError::InvalidSpec(format!(
                "{what} {} is not a directory",
                p.display()
            )))
        }
    };
    match &spec.rootfs {
        crate::spec::Rootfs::Dir(d) => check_dir(d, "rootfs")?,
        crate::spec::Rootfs::Overlay { lower, upper, work } => {
            for l in lower {
                check_dir(l, "overlay lower dir")?;
            }
            check_dir(upper, "overlay upper dir")?;
            check_dir(work, "overlay work dir")?;
        }
    }
    Ok(())
}
