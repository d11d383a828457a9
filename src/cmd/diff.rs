//! `kiln diff CONTAINER`: changed files, as Docker's A (added), C (changed), D (deleted).

use clap::Args;
use kiln_runtime::{changes, lifecycle};

use super::container_opts::open_store;
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct DiffArgs {
    pub container: String,
}

pub fn run(global: &GlobalArgs, args: DiffArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    let rec = lifecycle::find(&store, &args.container)?;
    for (kind, path) in changes::changes(&store, &rec)? {
        println!("{} {path}", kind.letter());
    }
    Ok(0)
}
