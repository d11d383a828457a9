//! `kiln stats --no-stream [CONTAINER…]`: CPU, memory and pids of running containers.

use anyhow::bail;
use clap::Args;
use kiln_runtime::{ids, lifecycle, stats, State};
use std::time::Duration;

use super::container_opts::open_store;
use super::format::{human_size, print_table, render_template};
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Print one sample and exit (the only mode kiln has)
    #[arg(long)]
    pub no_stream: bool,
    /// Go-template-like format ({{.Name}}, {{.CPUPerc}}, {{.MemUsage}}, {{.MemPerc}}, {{.PIDs}})
    #[arg(long)]
    pub format: Option<String>,
    /// Containers (default: all running)
    pub containers: Vec<String>,
}

pub fn run(global: &GlobalArgs, args: StatsArgs) -> anyhow::Result<i32> {
    if !args.no_stream {
        bail!("only `stats --no-stream` is supported");
    }
    let store = open_store(global)?;
    let recs = if args.containers.is_empty() {
        lifecycle::list(&store)?
            .into_iter()
            .filter(|r| r.state == State::Running)
            .collect()
    } else {
        args.containers
            .iter()
            .map(|c| lifecycle::find(&store, c))
            .collect::<Result<Vec<_>, _>>()?
    };
    // `json` prints objects, `table TEMPLATE` a header then rows, a bare `table` the default.
    let format = args.format.as_deref().filter(|f| f.trim() != "table");
    let template = match format {
        Some("json") | None => None,
        Some(f) => match f.strip_prefix("table") {
            Some(rest) => {
                let rest = rest.trim_start();
                println!(
                    "{}",
                    super::container_fmt::table_header_with(rest, column_name)
                );
                Some(rest)
            }
            None => Some(f),
        },
    };
    let mut rows = Vec::new();
    for r in recs {
        let s = if matches!(r.state, State::Running | State::Paused) && r.pid > 0 {
            stats::sample(r.pid, Duration::from_millis(500))
        } else {
            stats::Stats {
                cpu_percent: 0.0,
                mem_usage: 0,
                mem_limit: 0,
                pids: 0,
            }
        };
        let mem_perc = if s.mem_limit > 0 {
            s.mem_usage as f64 / s.mem_limit as f64 * 100.0
        } else {
            0.0
        };
        let v = serde_json::json!({
            "ID": ids::short(&r.id),
            "Container": ids::short(&r.id),
            "Name": r.name,
            "CPUPerc": format!("{:.2}%", s.cpu_percent),
            "MemUsage": format!("{} / {}", human_size(s.mem_usage), human_size(s.mem_limit)),
            "MemPerc": format!("{mem_perc:.2}%"),
            "PIDs": s.pids.to_string(),
            "MemBytes": s.mem_usage,
        });
        if format == Some("json") {
            println!("{v}");
            continue;
        }
        if let Some(f) = template {
            println!("{}", render_template(f, &v)?);
            continue;
        }
        rows.push(
            ["ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "PIDs"]
                .iter()
                .map(|k| v[*k].as_str().unwrap_or_default().to_string())
                .collect(),
        );
    }
    if format.is_none() {
        print_table(
            &[
                "CONTAINER ID",
                "NAME",
                "CPU %",
                "MEM USAGE / LIMIT",
                "MEM %",
                "PIDS",
            ],
            &rows,
        );
    }
    Ok(0)
}

/// Docker's column title for a `stats` template field.
fn column_name(field: &str) -> &'static str {
    match field {
        "ID" => "CONTAINER ID",
        "Container" => "CONTAINER",
        "Name" => "NAME",
        "CPUPerc" => "CPU %",
        "MemUsage" => "MEM USAGE / LIMIT",
        "MemPerc" => "MEM %",
        "PIDs" => "PIDS",
        _ => "",
    }
}
