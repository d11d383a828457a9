//! `kiln volume create|ls|inspect|rm|prune`.

use clap::{Args, Subcommand};
use kiln_runtime::volume;

use super::container_opts::open_store;
use super::format::print_table;
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct VolumeArgs {
    #[command(subcommand)]
    pub command: VolumeCommand,
}

#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume (a random name when none is given)
    Create {
        name: Option<String>,
        /// Set a label: key=value
        #[arg(short = 'l', long = "label")]
        label: Vec<String>,
    },
    /// List volumes
    Ls {
        /// Only names
        #[arg(short = 'q', long)]
        quiet: bool,
    },
    /// Show volumes as JSON
    Inspect {
        #[arg(required = true)]
        names: Vec<String>,
        /// Go-template-like format, e.g. '{{.Mountpoint}}'
        #[arg(short = 'f', long)]
        format: Option<String>,
    },
    /// Remove volumes
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove the anonymous volumes no container uses
    Prune {
        /// Do not ask (kiln never asks; accepted for Docker compatibility)
        #[arg(short = 'f', long)]
        force: bool,
        /// Named volumes too
        #[arg(short = 'a', long)]
        all: bool,
    },
}

pub fn run(global: &GlobalArgs, args: VolumeArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    match args.command {
        VolumeCommand::Create { name, label } => {
            let name = match name {
                Some(n) => n,
                None => kiln_runtime::ids::new_id()?,
            };
            let labels = label
                .iter()
                .map(|l| {
                    let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
                    (k.to_string(), v.to_string())
                })
                .collect();
            let v = volume::ensure(&store, &name, false, &labels)?;
            println!("{}", v.name);
        }
        VolumeCommand::Ls { quiet } => {
            let vols = volume::list(&store)?;
            if quiet {
                for v in vols {
                    println!("{}", v.name);
                }
            } else {
                let rows: Vec<Vec<String>> =
                    vols.into_iter().map(|v| vec![v.driver, v.name]).collect();
                print_table(&["DRIVER", "VOLUME NAME"], &rows);
            }
        }
        VolumeCommand::Inspect { names, format } => {
            // As Docker: show what exists, report what does not, exit 1 if anything missed.
            return super::format::print_inspect(
                &names,
                |n| Ok(serde_json::to_value(volume::get(&store, n)?)?),
                format.as_deref(),
            );
        }
        VolumeCommand::Rm { names } => {
            let mut code = 0;
            for n in names {
                match volume::remove(&store, &n) {
                    Ok(()) => println!("{n}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        code = 1;
                    }
                }
            }
            return Ok(code);
        }
        VolumeCommand::Prune { force: _, all } => {
            let removed = volume::prune(&store, all)?;
            if !removed.is_empty() {
                println!("Deleted Volumes:");
                for n in &removed {
                    println!("{n}");
                }
            }
        }
    }
    Ok(0)
}
