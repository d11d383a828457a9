//! One start of a container under the monitor: run it through the executor, write its
//! output to the json-file log, record the init's pid once it exists, and run its
//! healthcheck every interval while it runs.

use super::{report_ready, Ready};
use crate::config::{ContainerConfig, ContainerPaths};
use crate::exec::ExecConfig;
use crate::health::{self, HealthState};
use crate::logs::{LogEntry, LogWriter};
use crate::procs;
use crate::record;
use crate::timefmt::format_nanos;
use kiln_executor::{Executor, OutputLine, RunOptions, Stdin};
use std::time::{Duration, Instant, SystemTime};

/// How long the monitor sleeps between looks for the container's init.
const PID_POLL: Duration = Duration::from_millis(2);

pub(super) async fn run_once(
    exec: &Executor,
    spec: &kiln_executor::ContainerSpec,
    cfg: &ContainerConfig,
    db: &kiln_cache::Db,
    paths: &ContainerPaths,
    id: &str,
    hub: Option<&crate::attach::server::Hub>,
) -> Result<kiln_executor::RunOutcome, kiln_executor::ExecError> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<OutputLine>();
    // `--log-driver none`: output goes only to attached clients.
    let mut log = if cfg.log.driver.keeps_file() {
        match LogWriter::open(&paths.log(), cfg.log.rotation()) {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::error!(id, "container output will not be logged: {e}");
                None
            }
        }
    } else {
        None
    };
    let writer = async move {
        while let Some(line) = rx.recv().await {
            if let Some(h) = hub {
                h.publish(&line);
            }
            if let Some(w) = log.as_mut() {
                if let Err(e) = w.write(&LogEntry::from_output(&line)) {
                    tracing::error!("{e}");
                }
            }
        }
    };
    let opts = RunOptions {
        output: Some(tx),
        // Interactive containers get their input (and terminal size) from attach clients.
        stdin: hub.map_or(Stdin::Null, |h| h.begin_run()),
    };
    let me = std::process::id() as i32;
    // containers/<id>/ sits two levels below the store root.
    let root = paths
        .dir
        .parent()
        .and_then(|p| p.parent())
        .unwrap_or(std::path::Path::new("/"));
    let kiln = exec.config().helper.clone();
    let began = Instant::now();
    let health_cfg = cfg.health.clone().filter(|h| h.argv().is_some());
    let interval = health_cfg
        .as_ref()
        .map_or(Duration::from_secs(3600), |h| h.interval());
    let supervised = async {
        let run = exec.run(spec, opts);
        tokio::pin!(run);
        let mut waiting_for_pid = true;
        let mut checker: Option<(ExecConfig, HealthState)> = None;
        let result = loop {
            tokio::select! {
                r = &mut run => break r,
                // The executor does not hand out the init's pid; it appears in the
                // container's cgroup within milliseconds of the helper forking it.
                _ = tokio::time::sleep(PID_POLL), if waiting_for_pid => {
                    let init = procs::find_container_init(me, id)
                        .filter(|pid| procs::has_execed(*pid));
                    if let Some(pid) = init {
                        waiting_for_pid = false;
                        let now = format_nanos(SystemTime::now());
                        if let Err(e) = record::set_running(db, id, pid, &now) {
                            tracing::error!(id, "recording the running state: {e}");
                        }
                        if health_cfg.is_some() {
                            let state = HealthState::starting();
                            if let Err(e) = record::set_health(db, id, &state) {
                                tracing::error!(id, "recording health: {e}");
                            }
                            checker = Some((exec_base(cfg, id, pid), state));
                        }
                        if let Ok(rec) = record::get(db, id) {
                            crate::events::emit(root, "start", &rec, &[]);
                        }
                        report_ready(&Ready::Started { pid });
                    }
                }
                _ = tokio::time::sleep(interval), if checker.is_some() => {
                    if let (Some(h), Some((base, state))) = (&health_cfg, checker.as_mut()) {
                        let argv = h.argv().unwrap_or_default();
                        let result = health::run_check(&kiln, base, argv, h.timeout()).await;
                        tracing::debug!(id, code = result.exit_code, "health check");
                        let before = state.status.clone();
                        state.record(result, began.elapsed() < h.start_period(), h.retries());
                        if state.status != before {
                            if let Ok(rec) = record::get(db, id) {
                                let action = format!("health_status: {}", state.status);
                                crate::events::emit(root, &action, &rec, &[]);
                            }
                        }
                        if let Err(e) = record::set_health(db, id, state) {
                            tracing::error!(id, "recording health: {e}");
                        }
                    }
                }
            }
        };
        if waiting_for_pid && result.is_ok() {
            // It ran and ended between two looks: it did start.
            let now = format_nanos(SystemTime::now());
            if let Err(e) = record::set_running(db, id, 0, &now) {
                tracing::error!(id, "recording the start: {e}");
            }
            if let Ok(rec) = record::get(db, id) {
                crate::events::emit(root, "start", &rec, &[]);
            }
            report_ready(&Ready::Started { pid: 0 });
        }
        result
    };
    let (result, ()) = tokio::join!(supervised, writer);
    result
}

/// How a health check joins the container: as `kiln exec` with the container's settings.
fn exec_base(cfg: &ContainerConfig, id: &str, pid: i32) -> ExecConfig {
    ExecConfig {
        pid,
        args: Vec::new(),
        env: cfg.env.clone(),
        cwd: cfg.workdir.clone(),
        user: cfg.user.clone(),
        tty: false,
        detach: false,
        hostname: cfg
            .hostname
            .clone()
            .unwrap_or_else(|| crate::ids::short(id).to_string()),
    }
}
