//! `kiln restart`: stop, then start.

use clap::Args;
use kiln_runtime::lifecycle;
use std::time::Duration;

use super::container_opts::{for_each, kiln_binary, open_store};
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Seconds to wait before SIGKILL when stopping
    #[arg(short = 't', long = "time", visible_alias = "timeout")]
    pub time: Option<u64>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(global: &GlobalArgs, args: RestartArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    let kiln = kiln_binary()?;
    for_each(&args.containers, |r| {
        lifecycle::restart(&store, &kiln, r, args.time.map(Duration::from_secs))?;
        Ok(Some(r.to_string()))
    })
}
