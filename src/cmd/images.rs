//! `kiln images`: list images (REPOSITORY TAG IMAGE ID CREATED SIZE).

use anyhow::bail;
use clap::Args;
use kiln_cache::image::time::{format_rfc3339, human_age};
use kiln_cache::{ImageRecord, Reference};
use serde_json::json;

use super::format::{human_size, print_table, render_template};
use super::store_open::open_store;
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Only images of this repository (and tag)
    pub repository: Option<String>,
    /// Show all images (kiln keeps no intermediate images, so this equals the default)
    #[arg(short, long)]
    pub all: bool,
    /// Only show image ids
    #[arg(short, long)]
    pub quiet: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Do not truncate ids
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter: dangling=true|false, reference=NAME
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Output format: table (default), json, or a Go-like template such as '{{.Repository}}:{{.Tag}}'
    #[arg(long)]
    pub format: Option<String>,
}

struct Row {
    repo: String,
    tag: String,
    image: ImageRecord,
}

fn rows(images: Vec<ImageRecord>) -> Vec<Row> {
    let mut out = Vec::new();
    for img in images {
        if img.names.is_empty() {
            out.push(Row {
                repo: "<none>".into(),
                tag: "<none>".into(),
                image: img,
            });
            continue;
        }
        for n in img.names.clone() {
            out.push(Row {
                repo: n.familiar_name(),
                tag: n.tag.clone().unwrap_or_else(|| "<none>".into()),
                image: img.clone(),
            });
        }
    }
    out
}

pub fn run(global: &GlobalArgs, args: ImagesArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    let mut images = store.list_images()?;
    let mut name_filter = args.repository.clone();
    for f in &args.filter {
        match f.split_once('=') {
            Some(("dangling", v)) => {
                let want = match v {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => bail!("--filter dangling={v}: use true or false"),
                };
                images.retain(|i| i.names.is_empty() == want);
            }
            Some(("reference", v)) => name_filter = Some(v.to_string()),
            _ => bail!(
                "unsupported --filter {f:?}; supported: dangling=true|false, reference=NAME[:TAG]"
            ),
        }
    }
    let mut rows = rows(images);
    if let Some(nf) = &name_filter {
        let want = Reference::parse(nf).ok();
        let has_tag = nf.rsplit('/').next().is_some_and(|l| l.contains(':'));
        rows.retain(|r| {
            let Some(w) = &want else { return false };
            r.image.names.iter().any(|n| {
                n.name() == w.name()
                    && (!has_tag || n.tag == w.tag)
                    && n.familiar_name() == r.repo
                    && (!has_tag || Some(&r.tag) == w.tag.as_ref())
            })
        });
    }
    let id = |img: &ImageRecord| {
        if args.no_trunc {
            img.config_digest.to_string()
        } else {
            img.config_digest.short().to_string()
        }
    };
    let now = kiln_cache::db::now();
    if args.quiet {
        let mut seen = std::collections::HashSet::new();
        for r in &rows {
            if seen.insert(r.image.config_digest.clone()) {
                println!("{}", id(&r.image));
            }
        }
        return Ok(0);
    }
    let as_json = |r: &Row| {
        json!({
            "Repository": r.repo,
            "Tag": r.tag,
            "ID": id(&r.image),
            "Digest": r.image.manifest_digest.to_string(),
            "CreatedAt": r.image.created.map(format_rfc3339).unwrap_or_default(),
            "CreatedSince": r.image.created.map(|c| human_age(c, now)).unwrap_or_else(|| "N/A".into()),
            "Size": human_size(r.image.size),
            "Containers": "N/A",
        })
    };
    match args.format.as_deref() {
        Some("json") => {
            for r in &rows {
                println!("{}", as_json(r));
            }
        }
        Some(tpl) if tpl != "table" => {
            for r in &rows {
                println!("{}", render_template(tpl, &as_json(r))?);
            }
        }
        _ => {
            let mut header = vec!["REPOSITORY", "TAG"];
            if args.digests {
                header.push("DIGEST");
            }
            header.extend(["IMAGE ID", "CREATED", "SIZE"]);
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    let mut v = vec![r.repo.clone(), r.tag.clone()];
                    if args.digests {
                        v.push(r.image.manifest_digest.to_string());
                    }
                    v.push(id(&r.image));
                    v.push(
                        r.image
                            .created
                            .map(|c| human_age(c, now))
                            .unwrap_or_else(|| "N/A".into()),
                    );
                    v.push(human_size(r.image.size));
                    v
                })
                .collect();
            print_table(&header, &table);
        }
    }
    Ok(0)
}
