//! The daemon's lifecycle: take the root, bind, serve the API until SIGTERM (then let
//! running builds and commands finish for `shutdown_timeout`, and cancel the rest), reload
//! the config on SIGHUP, apply the GC policy periodically.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use kiln_cache::Store;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::backend::BuildBackend;
use crate::config::{Config, ConfigError};
use crate::host::Host;
use crate::listen::{BindOptions, ListenError, Listener};
use crate::lock::{DaemonLock, LockError};
use crate::metrics::Metrics;
use crate::slots::ContextSlots;
use crate::tls::TlsFiles;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Listen(#[from] ListenError),
    #[error("setting up signal handling: {0}")]
    Signals(std::io::Error),
    #[error("internal error: {0}")]
    Task(String),
}

/// How to run the daemon.
pub struct DaemonOptions {
    /// The store's root (absolute).
    pub root: PathBuf,
    pub host: Host,
    pub config_path: PathBuf,
    /// A missing config file is the defaults (true for the default path).
    pub config_optional: bool,
    pub tls: Option<TlsFiles>,
    /// The kiln binary forwarded commands run as.
    pub exe: PathBuf,
    pub store: Arc<Store>,
}

/// What every request handler shares.
pub struct Shared<B: BuildBackend> {
    pub(crate) backend: Arc<B>,
    pub(crate) root: PathBuf,
    pub(crate) exe: PathBuf,
    pub(crate) token: String,
    pub(crate) started: Instant,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) sessions: Mutex<HashMap<String, (B::Session, Instant)>>,
    pub(crate) slots: ContextSlots,
    pub(crate) outputs: crate::outputs::OutputDirs,
    pub(crate) config: Mutex<Config>,
    pub(crate) store: Arc<Store>,
    /// Cancelled when shutdown stops waiting: running builds and commands end.
    pub(crate) work: CancellationToken,
    pub(crate) commands_running: AtomicU64,
    pub(crate) next_id: AtomicU64,
    /// Woken on SIGHUP so the GC loop takes the new interval at once.
    pub(crate) reloaded: Notify,
}

impl<B: BuildBackend> Shared<B> {
    pub(crate) fn config(&self) -> Config {
        self.config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn busy(&self) -> u64 {
        Metrics::get(&self.metrics.builds_running) + self.commands_running.load(Ordering::Relaxed)
    }
}

/// Run the daemon until SIGTERM or SIGINT.
pub async fn run<B: BuildBackend>(opts: DaemonOptions, backend: B) -> Result<(), DaemonError> {
    let config = Config::load(&opts.config_path, opts.config_optional)?;
    let root = opts.root.clone();
    let lock = tokio::task::spawn_blocking(move || {
        DaemonLock::acquire(&root, || {
            tracing::warn!("waiting for in-process kiln commands on this store to finish")
        })
    })
    .await
    .map_err(|e| DaemonError::Task(e.to_string()))??;
    let (group, group_required) = match &config.group {
        Some(g) => (g.clone(), true),
        None => ("kiln".to_string(), false),
    };
    let bind = BindOptions {
        group: Some(group),
        group_required,
        tls: opts.tls.clone(),
    };
    let listener = Listener::bind(&opts.host, &bind).await?;
    let metrics_listener = match config.metrics_address {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| ListenError::Io {
                    action: "listening for /metrics on",
                    path: addr.to_string(),
                    source,
                })?,
        ),
        None => None,
    };
    let slots = ContextSlots::new(opts.root.join("daemon/contexts"));
    slots.reset();
    let outputs = crate::outputs::OutputDirs::new(opts.root.join("daemon/outputs"));
    outputs.reset();
    let shared = Arc::new(Shared {
        backend: Arc::new(backend),
        root: opts.root.clone(),
        exe: opts.exe.clone(),
        token: lock.token().to_string(),
        started: Instant::now(),
        metrics: Arc::new(Metrics::default()),
        sessions: Mutex::new(HashMap::new()),
        slots,
        outputs,
        config: Mutex::new(config),
        store: opts.store.clone(),
        work: CancellationToken::new(),
        commands_running: AtomicU64::new(0),
        next_id: AtomicU64::new(1),
        reloaded: Notify::new(),
    });
    let router = crate::routes::router(shared.clone());
    if let Some(l) = metrics_listener {
        tracing::info!("serving /metrics on {:?}", l.local_addr().ok());
        tokio::spawn(serve_metrics(
            l,
            crate::routes::metrics_router(shared.clone()),
        ));
    }
    let stop = CancellationToken::new();
    spawn_signal_handlers(
        shared.clone(),
        opts.config_path.clone(),
        opts.config_optional,
        stop.clone(),
    )?;
    tokio::spawn(crate::gc::run_loop(shared.clone(), stop.clone()));
    tracing::info!(
        "kiln daemon (pid {}) on {} serving {}",
        std::process::id(),
        opts.host,
        opts.root.display()
    );
    loop {
        let accepted = tokio::select! {
            a = listener.accept_raw() => a,
            _ = stop.cancelled() => break,
        };
        let accepted = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("accepting a connection: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let svc = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let conn = match accepted.finish().await {
                Ok(c) => c,
                Err(e) => return tracing::info!("{e}"),
            };
            let served = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(conn), svc)
                .with_upgrades()
                .await;
            if let Err(e) = served {
                tracing::debug!("connection ended: {e}");
            }
        });
    }
    drop(listener);
    shutdown(&shared).await;
    drop(lock);
    Ok(())
}

/// Stop accepting (done by the caller), let work finish for `shutdown_timeout`, cancel
/// what is left and give it a moment to report.
async fn shutdown<B: BuildBackend>(shared: &Shared<B>) {
    let timeout = shared.config().shutdown_timeout;
    tracing::info!(
        "shutting down: waiting up to {timeout:?} for {} builds and commands",
        shared.busy()
    );
    let deadline = Instant::now() + timeout;
    while shared.busy() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if shared.busy() > 0 {
        tracing::warn!(
            "cancelling {} builds and commands still running",
            shared.busy()
        );
        shared.work.cancel();
        let grace = Instant::now() + Duration::from_secs(10);
        while shared.busy() > 0 && Instant::now() < grace {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Let connection tasks write out what they were handed.
    tokio::time::sleep(Duration::from_millis(100)).await;
    tracing::info!("kiln daemon stopped");
}

fn spawn_signal_handlers<B: BuildBackend>(
    shared: Arc<Shared<B>>,
    config_path: PathBuf,
    optional: bool,
    stop: CancellationToken,
) -> Result<(), DaemonError> {
    let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Signals)?;
    let mut hup = signal(SignalKind::hangup()).map_err(DaemonError::Signals)?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = hup.recv() => match Config::load(&config_path, optional) {
                    Ok(c) => {
                        tracing::info!("reloaded {}: gc policy {:?}", config_path.display(), c.gc);
                        let old = std::mem::replace(&mut *shared.config.lock().unwrap_or_else(|p| p.into_inner()), c.clone());
                        if old.metrics_address != c.metrics_address || old.group != c.group {
                            tracing::warn!("metrics_address and group changes take effect at the next start");
                        }
                        shared.reloaded.notify_one();
                    }
                    Err(e) => tracing::error!("keeping the old config: {e}"),
                },
            }
        }
        stop.cancel();
    });
    Ok(())
}

async fn serve_metrics(listener: tokio::net::TcpListener, router: axum::Router) {
    if let Err(e) = axum::serve(listener, router).await {
        tracing::error!("the /metrics listener stopped: {e}");
    }
}
