//! `kiln rename OLD NEW`.

use clap::Args;
use kiln_runtime::{lifecycle, record};

use super::container_opts::open_store;
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct RenameArgs {
    pub container: String,
    pub new_name: String,
}

pub fn run(global: &GlobalArgs, args: RenameArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    let rec = lifecycle::find(&store, &args.container)?;
    kiln_runtime::rename::rename(&store, &rec, &args.new_name)?;
    let renamed = record::get(store.db(), &rec.id)?;
    kiln_runtime::events::emit(store.root(), "rename", &renamed, &[("oldName", rec.name)]);
    Ok(0)
}
