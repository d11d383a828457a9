//! `kiln inspect IMAGE...`: Docker-like JSON for images, or `--format` templates over it.

use anyhow::Context;
use clap::Args;
use kiln_cache::image::records::MAX_DOCUMENT;
use kiln_cache::{ImageRecord, Store};
use serde_json::{json, Value};

use super::format::render_template;
use super::store_open::open_store;
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Images (names, ids or id prefixes)
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Go-like template, e.g. '{{.Config.Env}}' or '{{json .RootFS}}'
    #[arg(short, long)]
    pub format: Option<String>,
}

/// The inspect document of one image.
pub fn inspect_value(store: &Store, img: &ImageRecord) -> anyhow::Result<Value> {
    let raw = store
        .content()
        .read_limited(&img.config_digest, MAX_DOCUMENT)?;
    let cfg: Value = serde_json::from_slice(&raw)
        .with_context(|| format!("image config {} is not JSON", img.config_digest))?;
    let field = |k: &str| cfg.get(k).cloned().unwrap_or(Value::Null);
    let repo_digests: Vec<String> = {
        let mut v: Vec<String> = img
            .names
            .iter()
            .map(|n| format!("{}@{}", n.familiar_name(), img.manifest_digest))
            .collect();
        v.dedup();
        v
    };
    Ok(json!({
        "Id": img.config_digest.to_string(),
        "RepoTags": img.names.iter().filter(|n| n.tag.is_some()).map(|n| n.familiar()).collect::<Vec<_>>(),
        "RepoDigests": repo_digests,
        "Created": field("created"),
        "Author": cfg.get("author").cloned().unwrap_or(Value::String(String::new())),
        "Config": field("config"),
        "Architecture": field("architecture"),
        "Variant": cfg.get("variant").cloned(),
        "Os": field("os"),
        "Size": img.size,
        "RootFS": {
            "Type": cfg.pointer("/rootfs/type").cloned().unwrap_or(Value::Null),
            "Layers": cfg.pointer("/rootfs/diff_ids").cloned().unwrap_or(Value::Array(Vec::new())),
        },
        "History": field("history"),
        "Descriptor": { "mediaType": img.media_type, "digest": img.manifest_digest.to_string() },
        "Metadata": { "LastTagTime": Value::Null },
    }))
}

pub fn run(global: &GlobalArgs, args: InspectArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    let mut docs = Vec::new();
    let mut failed = false;
    for name in &args.images {
        match store.resolve_image(name) {
            Ok(img) => docs.push(inspect_value(&store, &img)?),
            Err(e) => {
                eprintln!("error: {e}");
                failed = true;
            }
        }
    }
    match &args.format {
        Some(tpl) => {
            for d in &docs {
                println!("{}", render_template(tpl, d)?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(&docs)?),
    }
    Ok(if failed { crate::exit::KILN_ERROR } else { 0 })
}
