//! `kiln pause` / `kiln unpause`: freeze and thaw all processes of containers.

use clap::Args;
use kiln_runtime::freezer;

use super::container_opts::{for_each, open_store};
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct PauseArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(global: &GlobalArgs, args: PauseArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    for_each(&args.containers, |r| {
        freezer::pause(&store, r)?;
        Ok(Some(r.to_string()))
    })
}

pub fn run_unpause(global: &GlobalArgs, args: PauseArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    for_each(&args.containers, |r| {
        freezer::unpause(&store, r)?;
        Ok(Some(r.to_string()))
    })
}
