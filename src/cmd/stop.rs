//! `kiln stop`: the stop signal, then SIGKILL after the timeout.

use clap::Args;
use kiln_runtime::config::parse_signal;
use kiln_runtime::lifecycle;
use std::time::Duration;

use super::container_opts::{for_each, open_store};
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before SIGKILL (default: the container's --stop-timeout, 10)
    #[arg(short = 't', long = "time", visible_alias = "timeout")]
    pub time: Option<u64>,
    /// Signal to send instead of the container's stop signal (name or number)
    #[arg(short = 's', long = "signal")]
    pub signal: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(global: &GlobalArgs, args: StopArgs) -> anyhow::Result<i32> {
    let signal = match &args.signal {
        Some(s) => Some(parse_signal(s).ok_or_else(|| {
            anyhow::anyhow!(
                "invalid signal {s:?}: use a name such as TERM or SIGINT, or a number 1-64"
            )
        })?),
        None => None,
    };
    let store = open_store(global)?;
    for_each(&args.containers, |r| {
        lifecycle::stop_with_signal(&store, r, args.time.map(Duration::from_secs), signal)?;
        Ok(Some(r.to_string()))
    })
}
