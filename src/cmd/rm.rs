//! `kiln rm [-f] [-v]`: remove containers (and with -v their anonymous volumes).

use clap::Args;
use kiln_runtime::lifecycle::{self, LifecycleError};
use kiln_runtime::record::RecordError;

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
        match lifecycle::remove(&store, r, args.force, args.volumes) {
            Ok(_) => Ok(Some(r.to_string())),
            // As `rm -f` (and Docker since 20.10): a container already gone is no failure.
            Err(LifecycleError::Record(RecordError::NotFound(_))) if args.force => Ok(None),
            Err(e) => Err(e.into()),
        }
    })
}
