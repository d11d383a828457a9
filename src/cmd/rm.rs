//! `kiln rm [-f] [-v]`: remove containers (and with -v their anonymous volumes).

use clap::Args;
use kiln_runtime::lifecycle;

use super::container_opts::{for_each, open_store};
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Kill and remove running containers
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove the containers' anonymous volumes
    #[arg(short = 'v', long)]
    pub volumes: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(global: &GlobalArgs, args: RmArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    for_each(&args.containers, |r| {
        lifecycle::remove(&store, r, args.force, args.volumes)?;
        Ok(Some(r.to_string()))
    })
}
