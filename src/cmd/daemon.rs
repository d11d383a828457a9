//! `kiln daemon`: the build-cache service. Serves the store at `--root` on `--host`
//! (default unix:///run/kiln/kiln.sock) until SIGTERM; the CLI uses it whenever it runs.
//! The service machinery is the kiln-daemon crate; builds run here (`daemon/backend.rs`).

mod backend;
pub mod info;
mod outputs;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use kiln_daemon::config::DEFAULT_CONFIG;
use kiln_daemon::server::{run as serve, DaemonOptions};
use kiln_daemon::Host;

use super::build::open_store_absolute;
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Config file (TOML: socket group, metrics address, GC policy); default /etc/kiln/kiln.toml if present
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Steps run at once across all builds (default: number of CPUs)
    #[arg(long)]
    pub jobs: Option<usize>,
}

pub fn run(global: &GlobalArgs, args: DaemonArgs) -> anyhow::Result<i32> {
    let host = match &global.daemon.host {
        Some(h) => Host::parse(h)?,
        None => Host::default_socket(),
    };
    let tls = global.daemon.tls_files()?;
    let (config_path, config_optional) = match args.config {
        Some(p) => (p, false),
        None => (PathBuf::from(DEFAULT_CONFIG), true),
    };
    let store = Arc::new(open_store_absolute(global)?);
    let root = store.root().to_path_buf();
    let executor = super::executor_config::executor_config(global, root.join("exec"))?;
    let jobs = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let exe = std::env::current_exe().context("finding the kiln binary to run commands with")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the daemon runtime")?;
    let backend = backend::KilnBackend::new(store.clone(), executor, jobs, rt.handle().clone());
    rt.block_on(serve(
        DaemonOptions {
            root,
            host,
            config_path,
            config_optional,
            tls,
            exe,
            store,
        },
        backend,
    ))?;
    Ok(0)
}
