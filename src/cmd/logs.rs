//! `kiln logs`: a container's json-file log (`-f`, `--tail`, `--since`, `--until`, `-t`).

use anyhow::Context;
use clap::Args;
use kiln_cache::Store;
use kiln_runtime::config::ContainerPaths;
use kiln_runtime::logs::{follow, read_entries, LogEntry, LogFilter};
use kiln_runtime::{lifecycle, record, timefmt};
use std::io::Write;
use std::time::SystemTime;

use super::container_opts::open_store;
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow the log until the container stops
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Number of lines from the end ("all" for everything)
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Only lines since a time (RFC 3339, unix seconds, or a duration such as 10m)
    #[arg(long)]
    pub since: Option<String>,
    /// Only lines before a time (same forms as --since)
    #[arg(long)]
    pub until: Option<String>,
    /// Prefix each line with its timestamp
    #[arg(short = 't', long)]
    pub timestamps: bool,
    pub container: String,
}

fn time_arg(flag: &str, v: &Option<String>) -> anyhow::Result<Option<SystemTime>> {
    v.as_deref()
        .map(|s| {
            timefmt::parse_time_arg(s, SystemTime::now()).with_context(|| {
                format!("invalid --{flag} {s:?}: use RFC 3339, unix seconds or a duration like 10m")
            })
        })
        .transpose()
}

fn print(e: &LogEntry, timestamps: bool) -> bool {
    let line = if timestamps {
        format!("{} {}", e.time, e.log)
    } else {
        e.log.clone()
    };
    let r = if e.is_stderr() {
        let mut o = std::io::stderr().lock();
        o.write_all(line.as_bytes())
    } else {
        let mut o = std::io::stdout().lock();
        o.write_all(line.as_bytes()).and_then(|_| o.flush())
    };
    // A closed pipe (`kiln logs -f | head`) ends the command quietly.
    r.is_ok()
}

/// Prints the log of container `id` with `filter`, following it while the container runs.
pub fn stream(
    store: &Store,
    id: &str,
    filter: &LogFilter,
    follow_it: bool,
    timestamps: bool,
) -> anyhow::Result<()> {
    let path = ContainerPaths::new(store.root(), id).log();
    let (entries, end) = read_entries(&path, filter)?;
    for e in &entries {
        if !print(e, timestamps) {
            return Ok(());
        }
    }
    if follow_it {
        let mut running = || {
            record::get(store.db(), id)
                .ok()
                .and_then(|r| lifecycle::reconcile(store, r).ok())
                .is_some_and(|r| lifecycle::monitor_alive(&r))
        };
        let later = LogFilter {
            tail: None,
            ..filter.clone()
        };
        follow(&path, end, &later, &mut running, |e| print(e, timestamps))?;
    }
    Ok(())
}

pub fn run(global: &GlobalArgs, args: LogsArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    let rec = lifecycle::find(&store, &args.container)?;
    if !rec.config.log.driver.keeps_file() {
        anyhow::bail!(
            "configured logging driver does not support reading: container {} has log driver \"{}\" (its output goes only to attached clients; create it with --log-driver json-file or local to keep a log)",
            rec.name,
            rec.config.log.driver.name()
        );
    }
    let tail = match args.tail.as_str() {
        "all" | "-1" => None,
        n => Some(
            n.parse()
                .with_context(|| format!("invalid --tail {n:?}: a number or all"))?,
        ),
    };
    let filter = LogFilter {
        since: time_arg("since", &args.since)?,
        until: time_arg("until", &args.until)?,
        tail,
    };
    stream(&store, &rec.id, &filter, args.follow, args.timestamps)?;
    Ok(0)
}
