//! `kiln top CONTAINER`: the container's processes.

use anyhow::{bail, Context};
use clap::Args;
use kiln_runtime::{lifecycle, stats, State};
use std::collections::HashSet;

use super::container_opts::open_store;
use super::format::print_table;
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct TopArgs {
    pub container: String,
    /// Options for the host's `ps` (e.g. `aux`, `-o pid,comm`), as Docker's `top`
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
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
    let procs = stats::processes(rec.pid);
    if !args.ps_args.is_empty() {
        let pids: HashSet<i32> = procs.iter().map(|p| p.pid).collect();
        print!("{}", host_ps(&args.ps_args, &pids)?);
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = procs
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

/// The host's `ps ARGS`, keeping the header and the rows of `pids` (found by the PID
/// column, as Docker does).
fn host_ps(ps_args: &[String], pids: &HashSet<i32>) -> anyhow::Result<String> {
    let out = std::process::Command::new("ps")
        .args(ps_args)
        .output()
        .context("running the host's ps for `kiln top` options (install procps)")?;
    if !out.status.success() {
        bail!(
            "ps {}: {}",
            ps_args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let Some(col) = header.split_whitespace().position(|f| f == "PID") else {
        bail!(
            "ps {}: its output has no PID column; include pid in the format (e.g. -o pid,comm)",
            ps_args.join(" ")
        );
    };
    let mut kept = format!("{header}\n");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(col)
            .and_then(|f| f.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    Ok(kept)
}
