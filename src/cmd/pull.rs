//! `kiln pull [--platform P] REF`: resolve REF on its registry, download what the store lacks
//! (verified, several layers at once), record the image under REF and unpack its layers —
//! each layer as soon as it has arrived, while the others are still downloading.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context};
use clap::Args;
use kiln_cache::image::spec::media;
use kiln_cache::{ImageRecord, Reference, Store};
use kiln_registry::{Descriptor, Digest, Platform, ReferenceExt, RegistryClient};
use kiln_solver::remote::blob_sink::BlobSink;

use super::registry_opts::{runtime, ProgressView, RegistryArgs};
use super::store_open::open_store;
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Image to pull, e.g. busybox, registry:5000/team/app:v1 or app@sha256:…
    pub reference: String,
    /// Platform to pull from a multi-platform image: this machine's os/arch[/variant] (kiln
    /// runs no other, it has no emulation)
    #[arg(long)]
    pub platform: Option<String>,
    /// Print only the image name
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

pub fn run(global: &GlobalArgs, args: PullArgs) -> anyhow::Result<i32> {
    let reference = Reference::parse(&args.reference)?;
    let platform = super::image_source::platform(args.platform.as_deref())?;
    let store = std::sync::Arc::new(open_store(global)?);
    let mut out = std::io::stdout();
    pull_and_report(
        &store,
        &reference,
        &platform,
        &args.registry,
        args.quiet,
        &mut out,
    )?;
    println!("{reference}");
    Ok(0)
}

/// Pull as `kiln pull` shows it: per-layer progress on stderr (unless `quiet`), the layers
/// unpacked, then the `Digest:`/`Status:` lines on `out` (stdout for `pull`, stderr when
/// `run` or `create` pulls, keeping their stdout for the container's output or id).
pub fn pull_and_report(
    store: &Arc<Store>,
    reference: &Reference,
    platform: &Platform,
    registry: &RegistryArgs,
    quiet: bool,
    out: &mut dyn Write,
) -> anyhow::Result<ImageRecord> {
    let view = ProgressView::new(quiet, false);
    let client = registry.client(&view);
    let result = runtime()?.block_on(pull_unpacking(&client, store, reference, platform));
    view.finish();
    let (image, fetched) = result?;
    // Unpack now, as Docker does, so the first run does not pay for it (layers that were
    // already stored; downloaded ones were unpacked as they arrived).
    store
        .prepare_snapshots(&image)
        .with_context(|| format!("unpacking the layers of {reference}"))?;
    if !quiet {
        let status = if fetched {
            "Downloaded newer image for"
        } else {
            "Image is up to date for"
        };
        // The output is informational: a closed stream must not fail the pull.
        let _ = writeln!(out, "Digest: {}", image.manifest_digest)
            .and_then(|_| writeln!(out, "Status: {status} {}", reference.familiar()))
            .and_then(|_| out.flush());
    }
    Ok(image)
}

/// Download the image into the store and record it; `true` when any blob was new. Layers
/// are not unpacked (builds unpack lazily, only what a step needs).
pub async fn pull(
    client: &RegistryClient,
    store: &Store,
    reference: &Reference,
    platform: &Platform,
) -> anyhow::Result<(ImageRecord, bool)> {
    fetch(client, store, reference, platform, None).await
}

/// Like [`pull`], unpacking each downloaded layer into its snapshot as soon as it has
/// arrived (on the blocking pool, beside the downloads still running).
pub async fn pull_unpacking(
    client: &RegistryClient,
    store: &Arc<Store>,
    reference: &Reference,
    platform: &Platform,
) -> anyhow::Result<(ImageRecord, bool)> {
    fetch(client, store, reference, platform, Some(store.clone())).await
}

async fn fetch(
    client: &RegistryClient,
    store: &Store,
    reference: &Reference,
    platform: &Platform,
    unpack: Option<Arc<Store>>,
) -> anyhow::Result<(ImageRecord, bool)> {
    let resolved = client.resolve(reference, platform).await?;
    let repo = reference.repo();
    let content = store.content();
    let manifest = &resolved.manifest;
    // Keeps GC away between writing blobs and the image row that references them.
    let _guard = store.write_guard()?;
    let mut fetched = false;
    if !content.exists(&manifest.config.digest) {
        let bytes = client.fetch_blob_bytes(&repo, &manifest.config).await?;
        content.ingest(&bytes[..], Some(&manifest.config.digest))?;
        fetched = true;
    }
    let diff_ids = if unpack.is_some() {
        store.read_config(&manifest.config.digest)?.rootfs.diff_ids
    } else {
        Vec::new()
    };
    // Position of each layer blob in the chain (foreign layers included, as in diff_ids).
    let position: HashMap<Digest, usize> = manifest
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| (l.digest.clone(), i))
        .collect();
    let unpacking: Mutex<Vec<tokio::task::JoinHandle<anyhow::Result<()>>>> = Mutex::default();
    let layers: Vec<Descriptor> = manifest
        .layers
        .iter()
        .filter(|l| l.media_type != media::DOCKER_FOREIGN_LAYER)
        .cloned()
        .collect();
    let missing = layers.iter().filter(|l| !content.exists(&l.digest)).count();
    fetched |= missing > 0;
    client
        .fetch_blobs(
            &repo,
            &layers,
            |d: &Descriptor| {
                let writer = if content.exists(&d.digest) {
                    Ok(None)
                } else {
                    BlobSink::new(content, None)
                        .map(Some)
                        .map_err(std::io::Error::other)
                };
                std::future::ready(writer)
            },
            // Called only for blobs the client verified (digest and size) as they streamed,
            // so the store writes them without hashing a second time.
            |d: &Descriptor, w: BlobSink<'static>| {
                let committed = w.commit_verified(&d.digest, d.size).map(|_| ());
                if let (Ok(()), Some(store), Some(&i)) =
                    (&committed, &unpack, position.get(&d.digest))
                {
                    let task = start_unpack(store.clone(), diff_ids.clone(), i, d.clone());
                    unpacking
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(task);
                }
                std::future::ready(committed.map_err(std::io::Error::other))
            },
        )
        .await?;
    let tasks = std::mem::take(&mut *unpacking.lock().unwrap_or_else(|p| p.into_inner()));
    for t in tasks {
        t.await
            .map_err(|e| anyhow::anyhow!("unpacking a layer of {reference}: task failed: {e}"))??;
    }
    let stored = content.put_bytes(&resolved.raw.bytes)?;
    if stored.digest != resolved.raw.digest {
        bail!(
            "manifest of {reference} hashed to {} on write, {} on download",
            stored.digest,
            resolved.raw.digest
        );
    }
    fetched |= store.image_by_manifest(&stored.digest)?.is_none();
    let names = match reference.tag {
        Some(_) => vec![Reference {
            digest: None,
            ..reference.clone()
        }],
        None => Vec::new(),
    };
    let image = store.register_image(&stored.digest, &names)?;
    store.image_event("pull", &reference.to_string(), &reference.to_string());
    Ok((image, fetched))
}

/// Unpack layer `index` (blob `desc`) of the chain `diff_ids` on the blocking pool.
fn start_unpack(
    store: Arc<Store>,
    diff_ids: Vec<Digest>,
    index: usize,
    desc: Descriptor,
) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    tokio::task::spawn_blocking(move || {
        let Some(diff) = diff_ids.get(index) else {
            bail!("layer {} has no diff id in the image config", desc.digest);
        };
        store.record_layer_blob(diff, &desc.digest, &desc.media_type)?;
        store
            .prepare_layer_snapshot(&diff_ids, index)
            .with_context(|| format!("unpacking layer {}", desc.digest))?;
        Ok(())
    })
}
