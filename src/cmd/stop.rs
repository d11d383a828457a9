//! `kiln stop`: the stop signal, then SIGKILL after the timeout.

use clap::Args;
use kiln_runtime::lifecycle;
use std::time::Duration;

use super::container_opts::{for_each, open_store};
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before SIGKILL (default: the container's --stop-timeout, 10)
    #[arg(short = 't', long = "time")]
    pub time: Option<u64>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(global: &GlobalArgs, args: StopArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    for_each(&args.containers, |r| {
        lifecycle::stop(&store, r, args.time.map(Duration::from_secs))?;
        Ok(Some(r.to_string()))
    })
}
