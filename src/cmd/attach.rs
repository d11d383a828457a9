//! `kiln attach [--sig-proxy=false] CONTAINER`: follow a running container's output from
//! now on until it exits, then exit with its code; signals go to the container.

use anyhow::bail;
use clap::{ArgAction, Args};
use kiln_runtime::logs::LogFilter;
use kiln_runtime::{lifecycle, sigproxy};
use std::time::SystemTime;

use super::container_opts::open_store;
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Forward received signals to the container (default true)
    #[arg(long, default_value_t = true, action = ArgAction::Set)]
    pub sig_proxy: bool,
    pub container: String,
}

pub fn run(global: &GlobalArgs, args: AttachArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    let rec = lifecycle::find(&store, &args.container)?;
    if !lifecycle::monitor_alive(&rec) {
        bail!("you cannot attach to a stopped container, start it first");
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
