//! `kiln inspect NAME...`: Docker-like JSON for containers, images or volumes (as Docker,
//! a container wins over an image of the same name unless `--type` says which), or
//! `--format` templates over it.

use anyhow::Context;
use clap::{Args, ValueEnum};
use kiln_cache::image::records::MAX_DOCUMENT;
use kiln_cache::{ImageRecord, Store, StoreError};
use kiln_runtime::lifecycle::{self, LifecycleError};
use kiln_runtime::record::RecordError;
use kiln_runtime::volume::{self, VolumeError};
use serde_json::{json, Value};

use super::format::render_template;
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Containers, images or volumes (names, ids or id prefixes)
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Go-like template, e.g. '{{.Config.Env}}' or '{{json .RootFS}}'
    #[arg(short, long)]
    pub format: Option<String>,
    /// Only look for this kind of object
    #[arg(long = "type", value_enum)]
    pub kind: Option<ObjectKind>,
}

/// The kinds of object `kiln inspect` finds, in the order an untyped lookup tries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ObjectKind {
    Container,
    Image,
    Volume,
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

/// The document of `name` as `kind`: `Ok(None)` when there is no such object of that kind.
fn lookup(store: &Store, kind: ObjectKind, name: &str) -> anyhow::Result<Option<Value>> {
    match kind {
        ObjectKind::Container => match lifecycle::find(store, name) {
            Ok(rec) => Ok(Some(super::container_inspect::inspect_value(
                store.root(),
                &rec,
            ))),
            Err(LifecycleError::Record(RecordError::NotFound(_))) => Ok(None),
            Err(e) => Err(e.into()),
        },
        ObjectKind::Image => match store.resolve_image(name) {
            Ok(img) => Ok(Some(inspect_value(store, &img)?)),
            Err(StoreError::ImageNotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        },
        ObjectKind::Volume => match volume::get(store, name) {
            Ok(v) => Ok(Some(serde_json::to_value(v)?)),
            Err(VolumeError::NotFound(_) | VolumeError::InvalidName(_)) => Ok(None),
            Err(e) => Err(e.into()),
        },
    }
}

/// Finds `name` among `kinds` (first match wins), or says what was searched.
fn find(store: &Store, kinds: &[ObjectKind], name: &str) -> anyhow::Result<Value> {
    for &kind in kinds {
        if let Some(doc) = lookup(store, kind, name)? {
            return Ok(doc);
        }
    }
    match kinds {
        [ObjectKind::Container] => anyhow::bail!("no such container: {name} (see `kiln ps -a`)"),
        [ObjectKind::Image] => anyhow::bail!("no such image: {name} (see `kiln images`)"),
        [ObjectKind::Volume] => anyhow::bail!("no such volume: {name} (see `kiln volume ls`)"),
        _ => anyhow::bail!(
            "no such object: {name} (no container, image or volume has that name or id; see `kiln ps -a`, `kiln images`, `kiln volume ls`)"
        ),
    }
}

pub fn run(global: &GlobalArgs, args: InspectArgs) -> anyhow::Result<i32> {
    // Absolute root: a container record's paths are resolved against it.
    let store = super::container_opts::open_store(global)?;
    let kinds: Vec<ObjectKind> = match args.kind {
        Some(k) => vec![k],
        None => ObjectKind::value_variants().to_vec(),
    };
    let mut docs = Vec::new();
    let mut failed = false;
    for name in &args.images {
        match find(&store, &kinds, name) {
            Ok(doc) => docs.push(doc),
            Err(e) => {
                eprintln!("error: {e:#}");
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
    // Docker exits 1 when an object is missing (as `kiln container inspect`).
    Ok(if failed { 1 } else { 0 })
}
