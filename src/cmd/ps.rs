//! `kiln ps`: list containers (`-a`, `-q`, `-l`, `-n`, `--no-trunc`, `--filter`, `--format`).

use anyhow::bail;
use clap::Args;
use kiln_runtime::{lifecycle, ContainerRecord, State};

use super::container_fmt::{command, ps_value, status};
use super::container_opts::open_store;
use super::format::{print_table, render_template};
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default: running only)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only ids
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Only the latest created container
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Only the last N created containers
    #[arg(short = 'n', long = "last")]
    pub last: Option<usize>,
    /// Do not truncate ids and commands
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter: status=, name=, label=key[=value], ancestor=, id=
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Go-template-like format, e.g. '{{.ID}} {{.Names}}'
    #[arg(long)]
    pub format: Option<String>,
}

/// One `--filter` condition.
enum Filter {
    Status(String),
    Name(String),
    Label(String, Option<String>),
    Ancestor(String),
    Id(String),
    Exited(i32),
    Health(String),
}

fn parse_filter(f: &str) -> anyhow::Result<Filter> {
    let Some((k, v)) = f.split_once('=') else {
        bail!("invalid filter {f:?}: use key=value");
    };
    Ok(match k {
        "status" => {
            let ok = [
                "created",
                "restarting",
                "running",
                "paused",
                "exited",
                "removing",
                "dead",
            ];
            if !ok.contains(&v) {
                bail!("invalid filter status={v}: use one of {}", ok.join(", "));
            }
            Filter::Status(v.into())
        }
        "name" => Filter::Name(v.into()),
        "label" => match v.split_once('=') {
            Some((a, b)) => Filter::Label(a.into(), Some(b.into())),
            None => Filter::Label(v.into(), None),
        },
        "ancestor" => Filter::Ancestor(v.into()),
        "id" => Filter::Id(v.into()),
        "exited" => Filter::Exited(
            v.parse()
                .map_err(|_| anyhow::anyhow!("invalid filter exited={v}: an exit code"))?,
        ),
        "health" => {
            let ok = ["starting", "healthy", "unhealthy", "none"];
            if !ok.contains(&v) {
                bail!("invalid filter health={v}: use one of {}", ok.join(", "));
            }
            Filter::Health(v.into())
        }
        _ => bail!(
            "invalid filter key {k:?}: supported are status, name, label, ancestor, id, exited, health"
        ),
    })
}

fn matches(f: &Filter, rec: &ContainerRecord, ancestor_digest: &Option<String>) -> bool {
    match f {
        Filter::Status(s) => rec.state.as_str() == s,
        // Docker matches names by substring (regular expression).
        Filter::Name(n) => rec.name.contains(n.as_str()),
        Filter::Label(k, v) => match (rec.config.labels.get(k), v) {
            (Some(have), Some(want)) => have == want,
            (Some(_), None) => true,
            _ => false,
        },
        Filter::Ancestor(a) => {
            rec.image == *a || ancestor_digest.as_deref() == Some(rec.image_digest.as_str())
        }
        Filter::Id(i) => rec.id.starts_with(i.as_str()),
        Filter::Exited(code) => rec.state == State::Exited && rec.exit_code == *code,
        Filter::Health(h) => match &rec.health {
            Some(state) => state.status == *h,
            None => h == "none",
        },
    }
}

pub fn run(global: &GlobalArgs, args: PsArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    let filters: Vec<Filter> = args
        .filter
        .iter()
        .map(|f| parse_filter(f))
        .collect::<anyhow::Result<_>>()?;
    let mut recs = lifecycle::list(&store)?;
    let limit = if args.latest { Some(1) } else { args.last };
    let all = args.all
        || limit.is_some()
        || filters
            .iter()
            .any(|f| matches!(f, Filter::Status(_) | Filter::Exited(_)));
    if let Some(n) = limit {
        recs.truncate(n);
    }
    if !all {
        recs.retain(|r| matches!(r.state, State::Running | State::Restarting | State::Paused));
    }
    for f in &filters {
        let digest = match f {
            Filter::Ancestor(a) => store
                .resolve_image(a)
                .ok()
                .map(|i| i.manifest_digest.to_string()),
            _ => None,
        };
        recs.retain(|r| matches(f, r, &digest));
    }
    if args.quiet {
        for r in &recs {
            println!(
                "{}",
                if args.no_trunc {
                    &r.id
                } else {
                    kiln_runtime::ids::short(&r.id)
                }
            );
        }
        return Ok(0);
    }
    // Docker's `--format json`: one object per line; a bare `table` is the default table.
    if args.format.as_deref() == Some("json") {
        for r in &recs {
            println!("{}", ps_value(r, args.no_trunc));
        }
        return Ok(0);
    }
    if let Some(fmt) = args.format.as_ref().filter(|f| f.trim() != "table") {
        let fmt = match fmt.strip_prefix("table") {
            Some(rest) => {
                let rest = rest.trim_start();
                println!("{}", super::container_fmt::table_header(rest));
                rest
            }
            None => fmt.as_str(),
        };
        for r in &recs {
            println!("{}", render_template(fmt, &ps_value(r, args.no_trunc))?);
        }
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = recs
        .iter()
        .map(|r| {
            let v = ps_value(r, args.no_trunc);
            vec![
                v["ID"].as_str().unwrap_or_default().to_string(),
                r.image.clone(),
                command(r, args.no_trunc),
                v["RunningFor"].as_str().unwrap_or_default().to_string(),
                status(r),
                super::port::ps_ports(store.root(), r),
                r.name.clone(),
            ]
        })
        .collect();
    print_table(
        &[
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "PORTS",
            "NAMES",
        ],
        &rows,
    );
    Ok(0)
}
