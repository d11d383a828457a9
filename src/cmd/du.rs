//! `kiln du`: the build cache record by record (as `docker buildx du`): the layer each
//! step added, its size, when a build last used it, and whether an image shares it (then
//! pruning the record frees nothing while the image exists).

use std::collections::HashSet;
use std::time::Duration;

use clap::Args;
use kiln_cache::Digest;
use kiln_solver::local::Chain;

use super::container_fmt::human_duration;
use super::format::{human_size, print_table};
use super::store_open::open_store;
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct DuArgs {
    /// Output format: table (default) or json (one object per record and line)
    #[arg(long, value_parser = ["table", "json"])]
    pub format: Option<String>,
    /// Show full cache keys
    #[arg(long)]
    pub no_trunc: bool,
}

struct Row {
    key: String,
    layer: Option<Digest>,
    size: u64,
    shared: bool,
    last_used: i64,
    description: String,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub fn run(global: &GlobalArgs, args: DuArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    // Every layer blob an image refers to.
    let mut image_layers = HashSet::new();
    for img in store.list_images()? {
        if let Ok(m) = store.read_manifest(&img.manifest_digest) {
            image_layers.extend(m.layers.into_iter().map(|l| l.digest));
        }
    }
    let mut rows = Vec::new();
    for r in store.list_cache_records()? {
        // The step's own contribution is the top layer of the state it recorded.
        let top = match &r.blob {
            Some(doc) => Chain::load(&store, doc)
                .ok()
                .flatten()
                .and_then(|c| c.layers.last().cloned()),
            None => None,
        };
        rows.push(Row {
            key: r.key.clone(),
            shared: top.as_ref().is_some_and(|l| image_layers.contains(&l.blob)),
            size: top.as_ref().map_or(r.size, |l| l.size),
            layer: top.map(|l| l.blob),
            last_used: r.last_used,
            description: r.description.clone(),
        });
    }
    // Most recently used first, as buildx lists them.
    rows.sort_by(|a, b| b.last_used.cmp(&a.last_used).then(a.key.cmp(&b.key)));
    if args.format.as_deref() == Some("json") {
        for r in &rows {
            println!(
                "{}",
                serde_json::json!({"ID": r.key, "Layer": r.layer.as_ref().map(|d| d.to_string()), "Size": r.size, "Shared": r.shared, "Reclaimable": !r.shared, "LastUsed": r.last_used, "Description": r.description})
            );
        }
        return Ok(0);
    }
    let t = now();
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let id = if args.no_trunc {
                r.key.clone()
            } else {
                r.key
                    .trim_start_matches("sha256:")
                    .chars()
                    .take(12)
                    .collect()
            };
            let ago = Duration::from_secs(t.saturating_sub(r.last_used).max(0) as u64);
            vec![
                id,
                if r.shared { "shared" } else { "private" }.to_string(),
                human_size(r.size),
                format!("{} ago", human_duration(ago)),
                r.description.clone(),
            ]
        })
        .collect();
    print_table(
        &["ID", "SHARING", "SIZE", "LAST USED", "DESCRIPTION"],
        &table,
    );
    let shared: u64 = rows.iter().filter(|r| r.shared).map(|r| r.size).sum();
    let private: u64 = rows.iter().filter(|r| !r.shared).map(|r| r.size).sum();
    println!("Shared:\t\t{}", human_size(shared));
    println!("Private:\t{}", human_size(private));
    println!("Reclaimable:\t{}", human_size(private));
    println!("Total:\t\t{}", human_size(shared + private));
    Ok(0)
}
