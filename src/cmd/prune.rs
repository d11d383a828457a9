//! `kiln prune`: remove build cache by policy (`--all`, `--filter until=`, `--keep-storage`).
//! Also the shared flag parsing and report printing for `kiln system prune`.

use anyhow::bail;
use clap::Args;
use kiln_cache::gc::{PruneOptions, PruneReport};

use super::format::{human_size, parse_duration, parse_size};
use super::store_open::open_store;
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all build cache, not only cache no image uses
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt (kiln never prompts; accepted for Docker compatibility)
    #[arg(short, long)]
    pub force: bool,
    /// Filter: until=DURATION (e.g. 24h) removes only what was last used before then
    #[arg(long)]
    pub filter: Vec<String>,
    /// Keep this much of the most recently used cache (e.g. 10GB)
    #[arg(long)]
    pub keep_storage: Option<String>,
}

impl PruneArgs {
    pub fn options(&self) -> anyhow::Result<PruneOptions> {
        let mut opts = PruneOptions {
            all: self.all,
            until: None,
            keep_storage: self.keep_storage.as_deref().map(parse_size).transpose()?,
        };
        for f in &self.filter {
            match f.split_once('=') {
                Some(("until", d)) => opts.until = Some(parse_duration(d)?),
                _ => bail!("unsupported --filter {f:?}; supported: until=DURATION"),
            }
        }
        Ok(opts)
    }
}

pub fn print_report(r: &PruneReport) {
    for img in &r.images {
        for n in &img.names {
            println!("Untagged: {}", n.familiar());
        }
        println!("Deleted Image: {}", img.config_digest);
    }
    if !r.cache_records.is_empty() {
        println!("Deleted build cache objects:");
        for k in &r.cache_records {
            println!("{k}");
        }
    }
    for s in &r.gc.snapshots_removed {
        println!("Deleted snapshot: {s}");
    }
    println!("\nTotal reclaimed space: {}", human_size(r.gc.reclaimed));
}

pub fn run(global: &GlobalArgs, args: PruneArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    let opts = args.options()?;
    let report = store.prune_build_cache(&opts)?;
    print_report(&report);
    prune_cache_mounts(&store)?;
    prune_memos(&store, opts.all)?;
    Ok(0)
}

/// The build's download and converted-layer memos whose blobs the prune took (all of
/// them with `--all`); they are build cache too, only small.
pub fn prune_memos(store: &kiln_cache::Store, all: bool) -> anyhow::Result<()> {
    kiln_solver::local::prune_memos(store, all)?;
    Ok(())
}

/// RUN --mount=type=cache directories are build cache too (as in BuildKit's prune); those
/// a running build holds stay.
pub fn prune_cache_mounts(store: &kiln_cache::Store) -> anyhow::Result<()> {
    let mounts = kiln_solver::local::prune_cache_mounts(store.root()).map_err(|e| {
        anyhow::anyhow!(
            "removing cache mounts under {}: {e}",
            store.root().display()
        )
    })?;
    for m in &mounts {
        println!("Deleted cache mount: {} ({})", m.id, human_size(m.bytes));
    }
    Ok(())
}
