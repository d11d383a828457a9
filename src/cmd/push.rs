//! `kiln push REF`: upload an image from the store to its registry (blobs the registry has
//! are skipped) and tag it there; prints the pushed manifest digest.

use std::collections::HashMap;

use anyhow::{bail, Context};
use clap::Args;
use kiln_cache::image::records::MAX_DOCUMENT;
use kiln_cache::image::spec::media;
use kiln_cache::{Reference, Store};
use kiln_registry::{BlobSource, Digest, Manifest, ReferenceExt, Repository};

use super::registry_opts::{runtime, ProgressView, RegistryArgs};
use super::store_open::open_store;
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Image to push, named for its registry (e.g. registry:5000/team/app:v1)
    pub reference: String,
    /// Print only the pushed digest
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

pub fn run(global: &GlobalArgs, args: PushArgs) -> anyhow::Result<i32> {
    let reference = Reference::parse(&args.reference)?;
    if reference.digest.is_some() {
        bail!("cannot push to a digest reference ({reference}); name a tag");
    }
    let store = open_store(global)?;
    let image = store
        .resolve_image(&args.reference)
        .with_context(|| format!("finding {reference} to push"))?;
    let bytes = store
        .content()
        .read_limited(&image.manifest_digest, MAX_DOCUMENT)?;
    let Manifest::Image(manifest) = Manifest::parse(&image.media_type, &bytes)? else {
        bail!("{reference} is an index, not an image manifest; kiln pushes single-platform images");
    };
    let content = store.content();
    let blobs: Vec<_> = std::iter::once(&manifest.config)
        .chain(
            manifest
                .layers
                .iter()
                .filter(|l| l.media_type != media::DOCKER_FOREIGN_LAYER),
        )
        .map(|d| (d.clone(), BlobSource::File(content.path(&d.digest))))
        .collect();
    let view = ProgressView::new(args.quiet, true);
    let client = args.registry.client(&view);
    let size = bytes.len();
    let result = runtime()?.block_on(async {
        let mounts = mount_sources(&store, &reference);
        client
            .push_blobs_mounting(&reference.repo(), &blobs, |d| {
                mounts.get(&d.digest).cloned()
            })
            .await?;
        client
            .put_manifest(&reference, &image.media_type, bytes.into())
            .await
    });
    view.finish();
    let digest = result?;
    store.image_event("push", &reference.to_string(), &reference.to_string());
    if args.quiet {
        println!("{digest}");
    } else {
        let tag = reference.tag.as_deref().unwrap_or("latest");
        println!("{tag}: digest: {digest} size: {size}");
    }
    Ok(0)
}

/// Other repositories of the same registry that images in the store are named for, by the
/// blobs those images hold: the registry can link such a blob instead of receiving it again.
/// Only a hint; when the other repository lacks the blob the upload happens as usual.
fn mount_sources(store: &Store, target: &Reference) -> HashMap<Digest, Repository> {
    let mut out = HashMap::new();
    let Ok(images) = store.list_images() else {
        return out;
    };
    for image in images {
        let Some(name) = image
            .names
            .iter()
            .find(|n| n.registry == target.registry && n.repository != target.repository)
        else {
            continue;
        };
        let Ok(manifest) = store.read_manifest(&image.manifest_digest) else {
            continue;
        };
        for layer in manifest
            .layers
            .iter()
            .chain(std::iter::once(&manifest.config))
        {
            out.entry(layer.digest.clone())
                .or_insert_with(|| name.repo());
        }
    }
    out
}
