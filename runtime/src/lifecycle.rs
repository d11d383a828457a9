//! Starting (spawning the monitor), stopping, killing, waiting for and removing containers,
//! and reading records with the state reconciled against the processes that really exist.

use crate::config::ContainerPaths;
use crate::monitor::MONITOR_ARG0;
use crate::procs;
use crate::record::{self, ContainerRecord, RecordError, State};
use crate::timefmt::format_nanos;
use kiln_cache::Store;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// Exit code recorded for a container whose monitor vanished (host restart, monitor killed).
pub const LOST_EXIT_CODE: i32 = 255;

/// How long `stop`/`rm -f` wait for the monitor after SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(transparent)]
    Store(#[from] kiln_cache::StoreError),
    #[error(transparent)]
    Volume(#[from] crate::volume::VolumeError),
    #[error("starting the monitor for container {id} ({binary}): {source}")]
    Spawn {
        id: String,
        binary: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("opening the monitor log {path}: {source}")]
    MonitorLog {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the monitor of container {id} exited before starting it; see {log}")]
    MonitorDied { id: String, log: PathBuf },
    #[error("container {id} failed to start: {message}")]
    StartFailed {
        id: String,
        code: i32,
        message: String,
    },
    #[error("container {0} is not running")]
    NotRunning(String),
    #[error("container {0} is running: stop it first or use --force")]
    Running(String),
    #[error("signalling process {pid} of container {id}: {source}")]
    Signal {
        id: String,
        pid: i32,
        #[source]
        source: nix::Error,
    },
    #[error("container {id} did not stop within {waited:?} of SIGKILL; its monitor is pid {pid}")]
    StopTimeout {
        id: String,
        pid: i32,
        waited: Duration,
    },
    #[error("thawing paused container {id}: {detail}")]
    Thaw { id: String, detail: String },
    #[error(transparent)]
    NetworkSettings(#[from] crate::network::settings::SettingsError),
    #[error("removing {path}: {source}")]
    Remove {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl LifecycleError {
    /// The exit code Docker gives for this failure (126/127 for start failures of the
    /// command, otherwise 125).
    pub fn exit_code(&self) -> i32 {
        match self {
            LifecycleError::StartFailed { code, .. } if *code == 126 || *code == 127 => *code,
            _ => 125,
        }
    }
}

/// Whether the record's monitor process is alive.
pub fn monitor_alive(rec: &ContainerRecord) -> bool {
    rec.monitor_pid > 0 && procs::alive(rec.monitor_pid, rec.monitor_start)
}

/// Brings a record in line with reality: a container whose monitor is gone (host restart,
/// monitor killed) is exited, not running.
pub fn reconcile(
    store: &Store,
    mut rec: ContainerRecord,
) -> Result<ContainerRecord, LifecycleError> {
    if rec.monitor_pid != 0 && !monitor_alive(&rec) {
        if rec.state.has_monitor() {
            tracing::info!(id = %rec.id, "monitor is gone; marking the container exited");
            let msg = "the container's monitor process ended unexpectedly (host restart or killed)";
            record::set_exited(
                store.db(),
                &rec.id,
                LOST_EXIT_CODE,
                false,
                msg,
                &format_nanos(SystemTime::now()),
            )?;
        }
        record::clear_monitor(store.db(), &rec.id)?;
        // The monitor could not tear its network down: veths and the pinned namespace stay.
        crate::network::teardown_logged(store.root(), &rec.id);
        rec = record::get(store.db(), &rec.id)?;
    }
    Ok(rec)
}

pub fn find(store: &Store, reference: &str) -> Result<ContainerRecord, LifecycleError> {
    let rec = record::find(store.db(), reference)?;
    reconcile(store, rec)
}

pub fn list(store: &Store) -> Result<Vec<ContainerRecord>, LifecycleError> {
    record::list(store.db())?
        .into_iter()
        .map(|r| reconcile(store, r))
        .collect()
}

/// Starts the container's monitor (the `kiln` binary at `kiln`) and waits until the
/// container's process runs (or failed to). Starting a running container does nothing.
pub fn start(
    store: &Store,
    kiln: &Path,
    reference: &str,
) -> Result<ContainerRecord, LifecycleError> {
    let rec = find(store, reference)?;
    if monitor_alive(&rec) {
        return Ok(rec);
    }
    // Monitors run with an empty environment: the KILN_BRIDGE_* settings reach them
    // through the store.
    crate::network::settings::load(store.root())?;
    let paths = ContainerPaths::new(store.root(), &rec.id);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(paths.monitor_log())
        .map_err(|source| LifecycleError::MonitorLog {
            path: paths.monitor_log(),
            source,
        })?;
    let spawn_err = |source| LifecycleError::Spawn {
        id: rec.id.clone(),
        binary: kiln.to_path_buf(),
        source,
    };
    // The monitor runs in `/`: it needs the store's absolute path.
    let root = std::path::absolute(store.root()).map_err(spawn_err)?;
    let mut cmd = Command::new(kiln);
    std::os::unix::process::CommandExt::arg0(&mut cmd, MONITOR_ARG0);
    cmd.arg(&root)
        .arg(&rec.id)
        .env_clear()
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log));
    if let Ok(level) = std::env::var("KILN_MONITOR_LOG") {
        cmd.env("KILN_MONITOR_LOG", level);
    }
    // A terminal container starts with the size of the terminal that started it (its
    // process may look before an attach sends one), as Docker's ConsoleSize.
    if let (true, Some((rows, cols))) = (rec.config.tty, crate::tty::window_size()) {
        cmd.env(
            crate::attach::server::CONSOLE_SIZE_ENV,
            format!("{rows}x{cols}"),
        );
    }
    // SAFETY: setsid is async-signal-safe; it detaches the monitor from the caller's
    // session and terminal so it outlives the CLI and its ctrl-c.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            nix::unistd::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    let mut child = cmd.spawn().map_err(spawn_err)?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = std::io::BufReader::new(out).read_line(&mut line);
    }
    // Reap the monitor if it already ended; otherwise it is reparented when we exit.
    let _ = child.try_wait();
    let mut words = line.trim_end().splitn(3, ' ');
    match (words.next(), words.next(), words.next()) {
        (Some("started"), _, _) => match record::get(store.db(), &rec.id) {
            // `--rm` and already done: the monitor removed it.
            Err(RecordError::NotFound(_)) => Ok(rec),
            other => Ok(other?),
        },
        (Some("failed"), Some(code), msg) => Err(LifecycleError::StartFailed {
            id: rec.id.clone(),
            code: code.parse().unwrap_or(125),
            message: msg.unwrap_or_default().to_string(),
        }),
        _ => {
            let _ = child.wait();
            if let Ok(now) = record::get(store.db(), &rec.id) {
                reconcile(store, now)?;
            }
            Err(LifecycleError::MonitorDied {
                id: rec.id.clone(),
                log: paths.monitor_log(),
            })
        }
    }
}

fn signal(rec: &ContainerRecord, sig: i32) -> Result<(), LifecycleError> {
    // Only signal a pid that is still this container's init, not a reused pid.
    if rec.pid <= 0 || !procs::is_init_of(rec.pid, &rec.id) {
        return Err(LifecycleError::NotRunning(rec.id.clone()));
    }
    let s = nix::sys::signal::Signal::try_from(sig).map_err(|source| LifecycleError::Signal {
        id: rec.id.clone(),
        pid: rec.pid,
        source,
    })?;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(rec.pid), s).map_err(|source| {
        LifecycleError::Signal {
            id: rec.id.clone(),
            pid: rec.pid,
            source,
        }
    })
}

/// Waits until the monitor is gone; false on timeout.
fn wait_monitor_gone(rec: &ContainerRecord, timeout: Duration) -> bool {
    let until = Instant::now() + timeout;
    while monitor_alive(rec) {
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// Docker's `stop`: the stop signal, then SIGKILL after `timeout` (default: the
/// container's `--stop-timeout`). No restart policy applies afterwards.
pub fn stop(
    store: &Store,
    reference: &str,
    timeout: Option<Duration>,
) -> Result<ContainerRecord, LifecycleError> {
    stop_with_signal(store, reference, timeout, None)
}

/// `stop` with `signal` (`kiln stop -s`) instead of the container's stop signal.
pub fn stop_with_signal(
    store: &Store,
    reference: &str,
    timeout: Option<Duration>,
    signal_override: Option<i32>,
) -> Result<ContainerRecord, LifecycleError> {
    let rec = find(store, reference)?;
    if !monitor_alive(&rec) {
        return Ok(rec);
    }
    record::set_stop_requested(store.db(), &rec.id, true)?;
    thaw_if_paused(store, &rec)?;
    let timeout = timeout.unwrap_or(Duration::from_secs(rec.config.stop_timeout));
    if rec.pid > 0 {
        if let Err(e) = signal(&rec, signal_override.unwrap_or(rec.config.stop_signal)) {
            tracing::debug!("stop signal: {e}");
        }
    }
    if !wait_monitor_gone(&rec, timeout) {
        tracing::info!(id = %rec.id, "stop timeout; sending SIGKILL");
        force_kill(store, &rec)?;
    }
    let rec = record::get(store.db(), &rec.id)?;
    crate::events::emit(store.root(), "stop", &rec, &[]);
    Ok(rec)
}

/// SIGKILL the container (whatever pid it runs under now) and wait for its monitor to end.
fn force_kill(store: &Store, rec: &ContainerRecord) -> Result<(), LifecycleError> {
    record::set_stop_requested(store.db(), &rec.id, true)?;
    thaw_if_paused(store, rec)?;
    let now = record::get(store.db(), &rec.id)?;
    if now.pid > 0 {
        if let Err(e) = signal(&now, libc::SIGKILL) {
            tracing::debug!("SIGKILL: {e}");
        }
    }
    if !wait_monitor_gone(rec, KILL_WAIT) {
        return Err(LifecycleError::StopTimeout {
            id: rec.id.clone(),
            pid: rec.monitor_pid,
            waited: KILL_WAIT,
        });
    }
    Ok(())
}

/// A paused container cannot act on its stop signal: thaw it first (as Docker does).
fn thaw_if_paused(store: &Store, rec: &ContainerRecord) -> Result<(), LifecycleError> {
    let now = record::get(store.db(), &rec.id)?;
    if now.state == State::Paused {
        crate::freezer::thaw(&now).map_err(|e| LifecycleError::Thaw {
            id: rec.id.clone(),
            detail: e.to_string(),
        })?;
        record::set_state(store.db(), &rec.id, State::Running)?;
    }
    Ok(())
}

/// Docker's `kill [-s SIGNAL]`. SIGKILL also keeps the restart policy from restarting it.
pub fn kill(store: &Store, reference: &str, sig: i32) -> Result<ContainerRecord, LifecycleError> {
    let rec = find(store, reference)?;
    if !monitor_alive(&rec) || rec.state != State::Running {
        return Err(LifecycleError::NotRunning(rec.id.clone()));
    }
    if sig == libc::SIGKILL {
        record::set_stop_requested(store.db(), &rec.id, true)?;
    }
    signal(&rec, sig)?;
    crate::events::emit(store.root(), "kill", &rec, &[("signal", sig.to_string())]);
    Ok(rec)
}

/// Blocks until the container is not running (nor restarting) and returns its exit code.
/// A container that was created but never started is waited for until it has run (as
/// Docker's `wait`).
pub fn wait(store: &Store, reference: &str) -> Result<i32, LifecycleError> {
    let rec = find(store, reference)?;
    loop {
        let now = reconcile(store, record::get(store.db(), &rec.id)?)?;
        if !monitor_alive(&now) && now.state != State::Created {
            return Ok(now.exit_code);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Docker's `restart`: stop (with `timeout`), then start.
pub fn restart(
    store: &Store,
    kiln: &Path,
    reference: &str,
    timeout: Option<Duration>,
) -> Result<ContainerRecord, LifecycleError> {
    stop(store, reference, timeout)?;
    let rec = start(store, kiln, reference)?;
    crate::events::emit(store.root(), "restart", &rec, &[]);
    Ok(rec)
}

/// Docker's `rm [-f] [-v]`.
pub fn remove(
    store: &Store,
    reference: &str,
    force: bool,
    volumes: bool,
) -> Result<ContainerRecord, LifecycleError> {
    let rec = find(store, reference)?;
    if monitor_alive(&rec) {
        if !force {
            return Err(LifecycleError::Running(rec.id.clone()));
        }
        force_kill(store, &rec)?;
    }
    remove_container_files(store, &rec, volumes)?;
    Ok(rec)
}

/// Deletes the record (first, so a crash leaves only an orphan directory), releases the
/// image snapshot, removes `containers/<id>/` and, with `volumes`, its anonymous volumes
/// that no other container uses. The container must not be running.
pub fn remove_container_files(
    store: &Store,
    rec: &ContainerRecord,
    volumes: bool,
) -> Result<(), LifecycleError> {
    record::delete(store.db(), &rec.id)?;
    crate::network::teardown_logged(store.root(), &rec.id);
    crate::events::emit(store.root(), "destroy", rec, &[]);
    if let Some(s) = &rec.snapshot_id {
        store.release_snapshot(s, &format!("container:{}", rec.id))?;
    }
    // A killed monitor leaves a shareable container's /dev/shm mounted.
    crate::isolation::release(&ContainerPaths::new(store.root(), &rec.id));
    let dir = ContainerPaths::new(store.root(), &rec.id).dir;
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(LifecycleError::Remove { path: dir, source }),
    }
    if volumes {
        for m in &rec.config.mounts {
            if let crate::config::MountSource::Volume {
                name,
                anonymous: true,
            } = &m.source
            {
                match crate::volume::remove(store, name) {
                    Ok(()) | Err(crate::volume::VolumeError::InUse { .. }) => {}
                    Err(crate::volume::VolumeError::NotFound(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Ok(())
}
