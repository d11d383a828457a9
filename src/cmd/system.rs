//! `kiln system df|prune|check`: store usage, pruning and integrity checks.

use clap::{Args, Subcommand};

use super::format::{human_size, print_table, render_template};
use super::prune::{print_report, PruneArgs};
use super::store_open::open_store;
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct SystemArgs {
    #[command(subcommand)]
    pub command: SystemCommand,
}

#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Show disk usage of images and build cache
    Df(DfArgs),
    /// Remove dangling images (all unused ones with --all), build cache and garbage
    Prune(PruneArgs),
    /// Verify every blob, image and snapshot; --repair removes what is broken or orphaned
    Check(CheckArgs),
    /// Show the store and, through a daemon, the service's state
    Info(super::daemon::info::InfoArgs),
}

#[derive(Debug, Args)]
pub struct DfArgs {
    /// Output format: table, json, or a Go-like template
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Remove corrupt blobs, broken records, orphans and temp files
    #[arg(long)]
    pub repair: bool,
    /// Print the report as JSON
    #[arg(long, value_parser = ["json"])]
    pub format: Option<String>,
}

/// Exit status of `system check` when it finds problems (distinct from kiln's own errors).
pub const CHECK_PROBLEMS: i32 = 1;

pub fn run(global: &GlobalArgs, args: SystemArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    match args.command {
        SystemCommand::Df(a) => {
            let rows = store.disk_usage()?;
            let pct = |r: &kiln_cache::df::UsageRow| {
                format!(
                    "{}%",
                    (r.reclaimable * 100).checked_div(r.size).unwrap_or(0)
                )
            };
            let docs: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| serde_json::json!({"Type": r.kind, "TotalCount": r.total, "Active": r.active, "Size": human_size(r.size), "Reclaimable": format!("{} ({})", human_size(r.reclaimable), pct(r)), "SizeBytes": r.size, "ReclaimableBytes": r.reclaimable}))
                .collect();
            match a.format.as_deref() {
                Some("json") => docs.iter().for_each(|d| println!("{d}")),
                Some(tpl) if tpl != "table" => {
                    for d in &docs {
                        println!("{}", render_template(tpl, d)?);
                    }
                }
                _ => {
                    let table: Vec<Vec<String>> = rows
                        .iter()
                        .map(|r| {
                            vec![
                                r.kind.clone(),
                                r.total.to_string(),
                                r.active.to_string(),
                                human_size(r.size),
                                format!("{} ({})", human_size(r.reclaimable), pct(r)),
                            ]
                        })
                        .collect();
                    print_table(&["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"], &table);
                }
            }
            Ok(0)
        }
        SystemCommand::Prune(a) => {
            let opts = a.options()?;
            // As Docker's: stopped containers and idle networks first (their snapshots
            // then become garbage), then images and build cache.
            prune_containers_and_networks(global)?;
            let report = store.prune_system(&opts)?;
            print_report(&report);
            super::prune::prune_cache_mounts(&store)?;
            super::prune::prune_memos(&store, opts.all)?;
            Ok(0)
        }
        SystemCommand::Info(a) => super::daemon::info::print(
            &super::daemon::info::local(&store)?,
            false,
            a.format.as_deref(),
        ),
        SystemCommand::Check(a) => {
            let rep = store.check(a.repair)?;
            if a.format.is_some() {
                println!(
                    "{}",
                    serde_json::json!({"Healthy": rep.is_healthy(), "BlobsChecked": rep.blobs_checked, "ImagesChecked": rep.images_checked, "SnapshotsChecked": rep.snapshots_checked, "Problems": rep.problems, "Garbage": rep.garbage, "Repaired": rep.repaired})
                );
            } else {
                println!(
                    "checked {} blobs, {} images, {} snapshots",
                    rep.blobs_checked, rep.images_checked, rep.snapshots_checked
                );
                rep.problems.iter().for_each(|p| println!("problem: {p}"));
                rep.garbage.iter().for_each(|g| println!("garbage: {g}"));
                rep.repaired.iter().for_each(|r| println!("repaired: {r}"));
                if rep.is_healthy() {
                    println!("no corruption found");
                }
            }
            // After a repair the store is consistent again; report what was found anyway.
            Ok(if rep.is_healthy() || a.repair {
                0
            } else {
                CHECK_PROBLEMS
            })
        }
    }
}

/// `container prune` and, when this store has networking set up, `network prune`.
fn prune_containers_and_networks(global: &GlobalArgs) -> anyhow::Result<()> {
    use super::container_inspect::{ContainerArgs, ContainerCommand};
    use super::network::{NetworkArgs, NetworkCommand};
    super::container_inspect::run(
        global,
        ContainerArgs {
            command: ContainerCommand::Prune { force: true },
        },
    )?;
    // Without state there are no user networks, and `network` would set up the bridge.
    let state = std::path::absolute(&global.root)?.join("network/state.json");
    if state.exists() {
        super::network::run(
            global,
            NetworkArgs {
                command: NetworkCommand::Prune { force: true },
            },
        )?;
    }
    Ok(())
}
