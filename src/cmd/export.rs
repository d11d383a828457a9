//! `kiln export [-o FILE] CONTAINER`: the container's filesystem as a tar archive.

use anyhow::{bail, Context};
use clap::Args;
use kiln_runtime::{copy, lifecycle};
use std::io::IsTerminal;

use super::container_opts::open_store;
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to a file instead of stdout
    #[arg(short = 'o', long)]
    pub output: Option<std::path::PathBuf>,
    pub container: String,
}

pub fn run(global: &GlobalArgs, args: ExportArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    let rec = lifecycle::find(&store, &args.container)?;
    match &args.output {
        Some(path) => {
            let f = std::fs::File::create(path)
                .with_context(|| format!("creating {}", path.display()))?;
            copy::export(&store, &rec, std::io::BufWriter::new(f))?;
        }
        None => {
            if std::io::stdout().is_terminal() {
                bail!("refusing to write a tar archive to a terminal; use -o FILE or redirect");
            }
            copy::export(&store, &rec, std::io::stdout().lock())?;
        }
    }
    Ok(0)
}
