//! The per-container monitor: kiln re-executed with argv[0] = [`MONITOR_ARG0`], detached in
//! its own session. It runs the container through the executor, writes its output to the
//! json-file log, records state and exit code, applies the restart policy, and exits when
//! the container is done for good. Killing the monitor kills the container (the executor's
//! helper does that when its caller goes away); readers then see the container as exited.

use crate::config::ContainerPaths;
use crate::procs;
use crate::record::{self, ContainerRecord};
use crate::restart::Backoff;
use crate::timefmt::format_nanos;
use kiln_cache::{Digest, Store};
use kiln_executor::{Executor, ExecutorConfig};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

mod logger;
mod supervise;

use logger::MonitorLogger;

/// argv[0] that makes the kiln binary act as a container monitor.
pub const MONITOR_ARG0: &str = "kiln-container-monitor";

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("opening the store {path}: {source}")]
    Store {
        path: PathBuf,
        #[source]
        source: kiln_cache::StoreError,
    },
    #[error(transparent)]
    Record(#[from] record::RecordError),
    #[error(transparent)]
    Log(#[from] crate::logs::LogError),
    #[error("container {id}: its image {digest} is gone from the store ({detail}); recreate the container")]
    Image {
        id: String,
        digest: String,
        detail: String,
    },
    #[error("container lock {path}: {source}")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("starting the monitor's async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("setting up the container's network: {0}")]
    Network(#[from] crate::network::NetError),
}

/// Call first in `main`: when argv[0] is [`MONITOR_ARG0`], run the monitor for
/// `argv[1]` (store root) and `argv[2]` (container id) and exit.
pub fn maybe_run() {
    let mut args = std::env::args_os();
    let is_monitor = args
        .next()
        .map(|a0| Path::new(&a0).file_name() == Some(MONITOR_ARG0.as_ref()))
        .unwrap_or(false);
    if !is_monitor {
        return;
    }
    let (Some(root), Some(id)) = (args.next(), args.next()) else {
        eprintln!("{MONITOR_ARG0}: usage: {MONITOR_ARG0} STORE_ROOT CONTAINER_ID");
        std::process::exit(2);
    };
    let _ = tracing_subscriber_init();
    let id = id.to_string_lossy().into_owned();
    let code = match run(Path::new(&root), &id) {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!(id, "monitor failed: {e}");
            report_ready(&Ready::Failed {
                code: 125,
                message: e.to_string(),
            });
            1
        }
    };
    std::process::exit(code);
}

/// The monitor logs to its stderr, which the starter points at `monitor.log`.
fn tracing_subscriber_init() -> Option<()> {
    let level = std::env::var("KILN_MONITOR_LOG").unwrap_or_else(|_| "info".into());
    tracing::subscriber::set_global_default(MonitorLogger::new(&level)).ok()
}

/// What the starter waits for on the monitor's stdout (one line, then the pipe closes).
pub(crate) enum Ready {
    Started { pid: i32 },
    Failed { code: i32, message: String },
}

/// Writes the readiness line to fd 1 once and then points fd 1 at /dev/null, so the
/// starter's read ends and later writes go nowhere.
pub(crate) fn report_ready(r: &Ready) {
    static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if DONE.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    let line = match r {
        Ready::Started { pid } => format!("started {pid}\n"),
        Ready::Failed { code, message } => {
            format!("failed {code} {}\n", message.replace('\n', " "))
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(line.as_bytes());
    let _ = out.flush();
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        use std::os::fd::AsRawFd;
        // SAFETY: dup2 onto stdout with a valid descriptor; nothing holds stdout's old fd.
        unsafe { libc::dup2(null.as_raw_fd(), 1) };
    }
}

fn run(root: &Path, id: &str) -> Result<(), MonitorError> {
    let store = Store::open(root).map_err(|source| MonitorError::Store {
        path: root.to_path_buf(),
        source,
    })?;
    let paths = ContainerPaths::new(root, id);
    // One monitor per container: a second `start` racing the first finds the lock held
    // and leaves the container to the monitor that has it.
    let lock_path = paths.dir.join("monitor.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|source| MonitorError::Lock {
            path: lock_path.clone(),
            source,
        })?;
    let _lock = match nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(l) => l,
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
            tracing::info!(id, "another monitor runs this container");
            report_ready(&Ready::Started { pid: 0 });
            return Ok(());
        }
        Err((_, e)) => {
            return Err(MonitorError::Lock {
                path: lock_path,
                source: e.into(),
            })
        }
    };
    let me = std::process::id() as i32;
    record::set_monitor(store.db(), id, me, procs::start_time(me).unwrap_or(0))?;
    clean_stale_exec_state(&root.join("exec").join(id));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(MonitorError::Runtime)?;
    let kiln = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
    let exec = Executor::new(ExecutorConfig::native(kiln, root.join("exec")));
    // Networking outlives restarts by the policy: same namespace, address and ports.
    let net = crate::network::Session::start(root, store.db(), &record::get(store.db(), id)?, &rt)?;
    // `-i`/`-t` containers take attach clients (`attach`, `run -it`) on a socket.
    let hub = {
        let _ctx = rt.enter();
        crate::attach::server::Hub::bind_for(&paths.dir, &record::get(store.db(), id)?.config)
    };
    let mut backoff = Backoff::default();
    loop {
        let rec = record::get(store.db(), id)?;
        let (spec, prepared) = {
            let lower = lowerdirs(&store, &rec)?;
            let mut spec = rec.config.to_spec(root, id, lower, &paths);
            net.apply(&mut spec);
            let prepared = rec.config.isolation.apply(&store, &paths, &mut spec);
            (spec, prepared)
        };
        let began = Instant::now();
        let result = match prepared {
            // `--ipc/--pid container:` whose target stopped: a start failure (recorded,
            // reported, not retried).
            Err(e) => Err(kiln_executor::ExecError::Setup {
                id: id.to_string(),
                kind: kiln_executor::SetupFailure::Other,
                message: e.to_string(),
            }),
            Ok(()) => rt.block_on(supervise::run_once(
                &exec,
                &spec,
                &rec.config,
                store.db(),
                &paths,
                id,
                hub.as_ref(),
            )),
        };
        if let Some(h) = &hub {
            let code = result
                .as_ref()
                .map_or_else(|e| e.exit_code(), |o| o.exit_code());
            rt.block_on(h.end_run(Some(code)));
        }
        let ran_for = began.elapsed();
        // A container killed while paused leaves pause's (now empty) freezer cgroup.
        if let Some(dir) = crate::freezer::v1_dir(std::process::id() as i32, id) {
            if dir.exists() {
                if let Err(e) = crate::freezer::remove_v1(&dir) {
                    tracing::warn!(id, "removing the freezer cgroup: {e}");
                }
            }
        }
        let finished = format_nanos(SystemTime::now());
        let (code, oom, error, ran) = match &result {
            Ok(o) => (o.exit_code(), o.oom_killed, String::new(), true),
            Err(e) => (e.exit_code(), false, e.to_string(), false),
        };
        record::set_exited(store.db(), id, code, oom, &error, &finished)?;
        if !ran {
            report_ready(&Ready::Failed {
                code,
                message: error.clone(),
            });
        }
        tracing::info!(id, code, oom, "container exited");
        let rec = record::get(store.db(), id)?;
        if oom {
            crate::events::emit(root, "oom", &rec, &[]);
        }
        if ran {
            crate::events::emit(root, "die", &rec, &[("exitCode", code.to_string())]);
        }
        // A failure to start (command not found, bad mount) does not heal by retrying.
        let again = ran
            && rec
                .config
                .restart
                .should_restart(code, rec.restart_count, rec.stop_requested);
        if !again {
            break;
        }
        record::set_restarting(store.db(), id, rec.restart_count + 1)?;
        let delay = backoff.delay_after(ran_for);
        tracing::info!(id, ?delay, "restarting per policy");
        if !sleep_unless_stopped(&store, id, delay)? {
            record::set_state(store.db(), id, record::State::Exited)?;
            break;
        }
    }
    drop(net);
    if let Some(h) = hub {
        rt.block_on(h.close());
    }
    crate::isolation::release(&paths);
    record::clear_monitor(store.db(), id)?;
    let rec = record::get(store.db(), id)?;
    if rec.config.auto_remove {
        if let Err(e) = crate::lifecycle::remove_container_files(&store, &rec, true) {
            tracing::warn!(id, "removing the container (--rm): {e}");
        }
    }
    Ok(())
}

/// After a host crash the executor's state directory for this id may remain (nothing is
/// mounted on it any more: mounts died with the container's mount namespace). Remove what
/// the executor creates there, never recursively, so the next start can create it afresh.
fn clean_stale_exec_state(dir: &Path) {
    if !dir.exists() {
        return;
    }
    tracing::info!("removing stale executor state {}", dir.display());
    for f in [
        "etc/hosts",
        "etc/resolv.conf",
        "etc/hostname",
        "config.json",
    ] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    for d in ["etc", "rootfs", ""] {
        if let Err(e) = std::fs::remove_dir(dir.join(d)) {
            tracing::warn!("removing {}: {e}", dir.join(d).display());
        }
    }
}

/// Sleeps `delay`, waking early when the user stops the container; false if stopped.
fn sleep_unless_stopped(store: &Store, id: &str, delay: Duration) -> Result<bool, MonitorError> {
    let until = Instant::now() + delay;
    loop {
        if record::get(store.db(), id)?.stop_requested {
            return Ok(false);
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(true);
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

pub(crate) fn lowerdirs(
    store: &Store,
    rec: &ContainerRecord,
) -> Result<Vec<PathBuf>, MonitorError> {
    let err = |detail: String| MonitorError::Image {
        id: rec.id.clone(),
        digest: rec.image_digest.clone(),
        detail,
    };
    let digest: Digest = rec.image_digest.parse().map_err(|e| err(format!("{e}")))?;
    let image = store
        .image_by_manifest(&digest)
        .map_err(|e| err(e.to_string()))?
        .ok_or_else(|| err("no image record".into()))?;
    let mut lower = store
        .image_lowerdirs(&image)
        .map_err(|e| err(e.to_string()))?;
    // The store lists the top layer first; the executor wants the bottom first.
    lower.reverse();
    Ok(lower)
}
