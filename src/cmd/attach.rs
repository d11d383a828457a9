//! `kiln attach [--sig-proxy=false] [--no-stdin] [--detach-keys K] CONTAINER`: connect to a
//! running container. An interactive one (`-i`/`-t`) is attached through its monitor's
//! socket (terminal in raw mode, window size, detach keys); otherwise its output is
//! followed from now on. Either way kiln exits with the container's code when it ends.

use anyhow::bail;
use clap::{ArgAction, Args};
use kiln_cache::Store;
use kiln_runtime::attach::client::{self, AttachOptions, Outcome};
use kiln_runtime::config::ContainerPaths;
use kiln_runtime::logs::LogFilter;
use kiln_runtime::record::RecordError;
use kiln_runtime::tty::{parse_detach_keys, DEFAULT_DETACH_KEYS};
use kiln_runtime::{lifecycle, sigproxy, LifecycleError};
use std::time::SystemTime;

use super::container_opts::open_store;
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Forward received signals to the container (default true; not with a tty)
    #[arg(long, default_value_t = true, action = ArgAction::Set)]
    pub sig_proxy: bool,
    /// Do not attach stdin
    #[arg(long)]
    pub no_stdin: bool,
    /// Keys that detach (default ctrl-p,ctrl-q)
    #[arg(long)]
    pub detach_keys: Option<String>,
    pub container: String,
}

pub fn run(global: &GlobalArgs, args: AttachArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    let rec = lifecycle::find(&store, &args.container)?;
    if !lifecycle::monitor_alive(&rec) {
        bail!("you cannot attach to a stopped container, start it first");
    }
    if rec.config.tty || rec.config.open_stdin {
        let stdin = !args.no_stdin && rec.config.open_stdin;
        // A tty without our stdin leaves the terminal cooked: ctrl-c is a signal here, not
        // a key, so forward signals as without a tty (Session does that only without one).
        if args.sig_proxy && rec.config.tty && !stdin {
            sigproxy::start(store.root().to_path_buf(), rec.id.clone())?;
        }
        let session = Session {
            stdin,
            tty: rec.config.tty,
            replay: false,
            detach_keys: args.detach_keys.clone(),
            sig_proxy: args.sig_proxy,
            since: SystemTime::now(),
        };
        return Ok(session.run(&store, &rec.id)?.unwrap_or(0));
    }
    if args.sig_proxy {
        sigproxy::start(store.root().to_path_buf(), rec.id.clone())?;
    }
    let from_now = LogFilter {
        since: Some(SystemTime::now()),
        ..Default::default()
    };
    super::logs::stream(&store, &rec.id, &from_now, true, false)?;
    Ok(lifecycle::wait(&store, &rec.id)?)
}

/// One interactive attach (`run -it`, `start -ai`, `attach`).
pub struct Session {
    /// Relay our stdin (the container was created with `-i`).
    pub stdin: bool,
    pub tty: bool,
    /// Also show what the container printed before we connected (we just started it).
    pub replay: bool,
    pub detach_keys: Option<String>,
    /// Forward our signals to the container (never with a tty: ctrl-c is a key there).
    pub sig_proxy: bool,
    /// When this run began: its log is shown if the container ended before we connected.
    pub since: SystemTime,
}

impl Session {
    /// The container's exit code, or `None` when the user detached.
    pub fn run(&self, store: &Store, id: &str) -> anyhow::Result<Option<i32>> {
        let keys = parse_detach_keys(self.detach_keys.as_deref().unwrap_or(DEFAULT_DETACH_KEYS))?;
        if self.sig_proxy && !self.tty {
            sigproxy::start(store.root().to_path_buf(), id.to_string())?;
        }
        let dir = ContainerPaths::new(store.root(), id).dir;
        let mut ended_with = None;
        match client::connect(&dir) {
            Ok(sock) => {
                let opts = AttachOptions {
                    stdin: self.stdin,
                    tty: self.tty,
                    replay: self.replay,
                    detach_keys: keys,
                };
                match client::relay(sock, &opts)? {
                    Outcome::Detached => return Ok(None),
                    Outcome::Ended(code) => ended_with = code,
                }
            }
            Err(e) => {
                // No monitor any more: the container ended before we got here.
                tracing::debug!("{e}; showing the run's log instead");
                if self.replay {
                    let from = LogFilter {
                        since: Some(self.since),
                        ..Default::default()
                    };
                    super::logs::stream(store, id, &from, false, false)?;
                }
            }
        }
        // With a restart policy the container may run again: this attach ends here.
        if let (Some(code), Ok(rec)) = (ended_with, lifecycle::find(store, id)) {
            if rec.config.restart != kiln_runtime::RestartPolicy::No {
                return Ok(Some(code));
            }
        }
        match lifecycle::wait(store, id) {
            Ok(code) => Ok(Some(code)),
            // `--rm`: its monitor removed it; the code came with the end of the stream.
            Err(LifecycleError::Record(RecordError::NotFound(_))) if ended_with.is_some() => {
                Ok(ended_with)
            }
            Err(e) => Err(e.into()),
        }
    }
}
