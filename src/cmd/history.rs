//! `kiln history IMAGE`: the image's history entries, newest first.

use clap::Args;
use kiln_cache::image::time::{human_age, parse_rfc3339};
use serde_json::json;

use super::format::{human_size, print_table, render_template};
use super::store_open::open_store;
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Image (name, id or id prefix)
    pub image: String,
    /// Do not truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Show dates as RFC 3339 instead of ages
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set)]
    pub human: bool,
    /// Only show image ids
    #[arg(short, long)]
    pub quiet: bool,
    /// Output format: table, json, or a Go-like template
    #[arg(long)]
    pub format: Option<String>,
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

pub fn run(global: &GlobalArgs, args: HistoryArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    let img = store.resolve_image(&args.image)?;
    let manifest = store.read_manifest(&img.manifest_digest)?;
    let config = store.read_config(&img.config_digest)?;
    let now = kiln_cache::db::now();
    // History entries that are not empty_layer correspond, in order, to the layers.
    let mut layer_sizes = manifest.layers.iter().map(|l| l.size);
    let mut rows = Vec::new();
    for h in &config.history {
        let size = if h.empty_layer {
            0
        } else {
            layer_sizes.next().unwrap_or(0)
        };
        rows.push((h, size));
    }
    rows.reverse();
    let id = if args.no_trunc {
        img.config_digest.to_string()
    } else {
        img.config_digest.short().to_string()
    };
    if args.quiet {
        println!("{id}");
        return Ok(0);
    }
    let docs: Vec<serde_json::Value> = rows
        .iter()
        .enumerate()
        .map(|(i, (h, size))| {
            let created = h.created.clone().unwrap_or_default();
            let since = h
                .created
                .as_deref()
                .and_then(parse_rfc3339)
                .map(|t| human_age(t, now))
                .unwrap_or_else(|| "N/A".into());
            let by = h.created_by.clone().unwrap_or_default();
            json!({
                "ID": if i == 0 { id.clone() } else { "<missing>".into() },
                "CreatedAt": created,
                "CreatedSince": if args.human { since } else { created.clone() },
                "CreatedBy": if args.no_trunc { by } else { truncate(&by, 45) },
                "Size": human_size(*size),
                "Comment": h.comment.clone().unwrap_or_default(),
            })
        })
        .collect();
    match args.format.as_deref() {
        Some("json") => docs.iter().for_each(|d| println!("{d}")),
        Some(tpl) if tpl != "table" => {
            for d in &docs {
                println!("{}", render_template(tpl, d)?);
            }
        }
        _ => {
            let s = |d: &serde_json::Value, k: &str| d[k].as_str().unwrap_or_default().to_string();
            let table: Vec<Vec<String>> = docs
                .iter()
                .map(|d| {
                    vec![
                        s(d, "ID"),
                        s(d, "CreatedSince"),
                        s(d, "CreatedBy"),
                        s(d, "Size"),
                        s(d, "Comment"),
                    ]
                })
                .collect();
            print_table(
                &["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
                &table,
            );
        }
    }
    Ok(0)
}
