//! `kiln update [-m] [--cpus] [--cpu-shares] [--pids-limit] [--restart] CONTAINER…`.

use anyhow::Context;
use clap::Args;
use kiln_runtime::update::{update, Update};

use super::container_opts::{for_each, open_store, parse_memory};
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Memory limit (e.g. 64m)
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<f64>,
    /// Relative CPU weight
    #[arg(long)]
    pub cpu_shares: Option<u64>,
    /// Maximum number of processes
    #[arg(long)]
    pub pids_limit: Option<u64>,
    /// Restart policy
    #[arg(long)]
    pub restart: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(global: &GlobalArgs, args: UpdateArgs) -> anyhow::Result<i32> {
    let u = Update {
        memory: args.memory.as_deref().map(parse_memory).transpose()?,
        cpu_shares: args.cpu_shares,
        cpu_quota: args
            .cpus
            .map(|c| {
                kiln_runtime::config::cpus_quota(c)
                    .with_context(|| format!("invalid --cpus {c}: must be positive"))
            })
            .transpose()?,
        pids_limit: args.pids_limit,
        restart: args.restart.as_deref().map(str::parse).transpose()?,
    };
    let store = open_store(global)?;
    for_each(&args.containers, |r| {
        update(&store, r, &u)?;
        Ok(Some(r.to_string()))
    })
}
