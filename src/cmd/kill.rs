//! `kiln kill [-s SIGNAL]`: signal a running container's main process.

use anyhow::Context;
use clap::Args;
use kiln_runtime::{config::parse_signal, lifecycle};

use super::container_opts::{for_each, open_store};
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send (name or number)
    #[arg(short = 's', long = "signal", default_value = "KILL")]
    pub signal: String,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(global: &GlobalArgs, args: KillArgs) -> anyhow::Result<i32> {
    let sig =
        parse_signal(&args.signal).with_context(|| format!("invalid signal {:?}", args.signal))?;
    let store = open_store(global)?;
    for_each(&args.containers, |r| {
        lifecycle::kill(&store, r, sig)?;
        Ok(Some(r.to_string()))
    })
}
