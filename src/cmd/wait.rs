//! `kiln wait`: block until containers stop; print their exit codes.

use clap::Args;
use kiln_runtime::lifecycle;

use super::container_opts::{for_each, open_store};
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct WaitArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(global: &GlobalArgs, args: WaitArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    for_each(&args.containers, |r| {
        Ok(Some(lifecycle::wait(&store, r)?.to_string()))
    })
}
