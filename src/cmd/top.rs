//! `kiln top CONTAINER`: the container's processes.

use anyhow::bail;
use clap::Args;
use kiln_runtime::{lifecycle, stats, State};

use super::container_opts::open_store;
use super::format::print_table;
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct TopArgs {
    pub container: String,
}

fn hms(secs: u64) -> String {
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

pub fn run(global: &GlobalArgs, args: TopArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    let rec = lifecycle::find(&store, &args.container)?;
    if !matches!(rec.state, State::Running | State::Paused) || rec.pid <= 0 {
        bail!("container {} is not running", rec.name);
    }
    let rows: Vec<Vec<String>> = stats::processes(rec.pid)
        .into_iter()
        .map(|p| {
            vec![
                p.uid.to_string(),
                p.pid.to_string(),
                p.ppid.to_string(),
                hms(p.cpu_secs),
                p.cmd,
            ]
        })
        .collect();
    print_table(&["UID", "PID", "PPID", "TIME", "CMD"], &rows);
    Ok(0)
}
