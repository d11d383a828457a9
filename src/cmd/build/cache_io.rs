//! `--cache-from` / `--cache-to`: importing the caches (specs parsed in `spec.rs`)
//! before the solve (documents only; layers are fetched lazily on hits, see
//! `kiln_solver::remote`), and exporting the build's step results after it.

mod spec;

use std::sync::Arc;

use kiln_cache::{Reference, Store};
use kiln_frontend::graph::{Graph, MountKind, Op};
use kiln_registry::RegistryClient;
use kiln_solver::local::Chain;
use kiln_solver::remote::sources::MountSources;
use kiln_solver::remote::{self, inline, layout, mounts, registry, CacheEntry, RemoteCaches};
use kiln_solver::KeyRecord;

pub use spec::{parse, CacheSpec, Location, Mode};

/// Read every `--cache-from` cache; one that cannot be read is warned about and skipped
/// (as BuildKit does), and restore cache mounts where asked.
pub async fn import(
    client: &RegistryClient,
    store: &Store,
    specs: &[CacheSpec],
    verbose: bool,
) -> RemoteCaches {
    let mut caches = Vec::new();
    for spec in specs {
        let result = match &spec.location {
            Location::Registry(r) => registry::import(client, r).await,
            Location::Local { dir, tag } => layout::import(dir, tag),
            Location::Inline => continue,
        };
        let cache = match result {
            Ok(Some(c)) => Arc::new(c),
            Ok(None) => {
                if verbose {
                    eprintln!("importing cache from {}: none there yet", spec.location);
                }
                continue;
            }
            Err(e) => {
                eprintln!("WARNING: importing build cache: {e}");
                continue;
            }
        };
        if verbose {
            eprintln!(
                "importing cache from {}: {} records",
                spec.location,
                cache.len()
            );
        }
        if spec.cache_mounts {
            match mounts::import(store, &cache).await {
                Ok(n) => tracing::info!(cache = cache.name(), restored = n, "cache mounts"),
                Err(e) => eprintln!("WARNING: restoring cache mounts: {e}"),
            }
        }
        caches.push(cache);
    }
    RemoteCaches::new(caches)
}

/// The results of the build's steps (not sources: those are the base image and the
/// context), as the store recorded them or, for steps a cached build never visited, as
/// the imported caches did; with their input keys.
pub fn entries(
    store: &Store,
    graph: &Graph,
    keys: &[KeyRecord],
    imported: &RemoteCaches,
) -> Vec<CacheEntry> {
    keys.iter()
        .filter(|k| {
            graph
                .get(&k.vertex)
                .is_some_and(|v| matches!(v.op, Op::Exec(_) | Op::File(_) | Op::Merge))
        })
        .filter_map(|k| {
            let local = || {
                let rec = store.get_cache_record(k.key.as_str()).ok()??;
                Chain::load(store, &rec.blob?).ok()?
            };
            let chain = local().or_else(|| imported.record(&k.key))?;
            Some(CacheEntry {
                key: k.key.clone(),
                inputs: k.inputs.clone(),
                chain,
            })
        })
        .collect()
}

/// The ids of the cache mounts the build's steps use.
pub fn cache_mount_ids(graph: &Graph) -> Vec<String> {
    let mut ids: Vec<String> = graph
        .vertices()
        .filter_map(|v| match &v.op {
            Op::Exec(e) => Some(e.mounts.iter()),
            _ => None,
        })
        .flatten()
        .filter_map(|m| match &m.kind {
            MountKind::Cache { id, .. } => Some(id.clone()),
            _ => None,
        })
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// What a build exports: its step results, the solved chain (`mode=min` keeps the steps it
/// starts with), the cache mounts it used, and the caches it imported.
pub struct Export<'a> {
    pub entries: &'a [CacheEntry],
    pub image: &'a Chain,
    pub mount_ids: &'a [String],
    pub imported: &'a RemoteCaches,
    pub verbose: bool,
}

/// Export to one `--cache-to` destination (not inline: that goes into the image). Blobs
/// of imported records this build never needed are fetched from their cache first.
pub async fn export(
    client: &RegistryClient,
    store: &Store,
    spec: &CacheSpec,
    what: &Export<'_>,
) -> anyhow::Result<()> {
    let Export {
        entries: all,
        image,
        mount_ids,
        imported,
        verbose,
    } = *what;
    let chosen: Vec<CacheEntry> = match spec.mode {
        Mode::Max => all.to_vec(),
        Mode::Min => all
            .iter()
            .filter(|e| inline::is_prefix(&e.chain, image))
            .cloned()
            .collect(),
    };
    let mut present = Vec::with_capacity(chosen.len());
    for e in chosen {
        let here = e
            .chain
            .layers
            .iter()
            .all(|l| store.content().exists(&l.blob));
        if here
            || at_destination(client, store, &spec.location, &e.chain).await
            || imported.materialize(store, &e.key).await.is_some()
        {
            present.push(e);
        } else {
            eprintln!(
                "WARNING: build cache: the layers of {} are not available; not exported",
                e.key
            );
        }
    }
    let mut chosen = present;
    if spec.cache_mounts {
        let name = spec.location.to_string();
        // Writing the layers is blocking work.
        let extra =
            tokio::task::block_in_place(|| mounts::export_entries(store, &name, mount_ids))?;
        chosen.extend(extra);
    }
    let started = std::time::Instant::now();
    let (digest, blobs) = match &spec.location {
        Location::Registry(r) => {
            let target = kiln_registry::ReferenceExt::repo(r);
            // Listing the store's images and reading their manifests is blocking work.
            let mounts =
                tokio::task::block_in_place(|| MountSources::for_target(store, imported, &target));
            let s = registry::export(client, store, r, &chosen, &mounts).await?;
            let blobs = format!(
                ", blobs: {} uploaded, {} mounted, {} present",
                s.uploaded, s.mounted, s.present
            );
            (s.digest, blobs)
        }
        Location::Local { dir, tag } => (layout::export(store, dir, tag, &chosen)?, String::new()),
        Location::Inline => return Ok(()),
    };
    tracing::info!(records = chosen.len(), %digest, elapsed = ?started.elapsed(), "exported build cache{blobs}");
    if verbose {
        eprintln!(
            "exporting cache to {} done ({} records, {digest}{blobs}, {:.1}s)",
            spec.location,
            chosen.len(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Whether the destination registry already holds every blob of `chain` this store lacks
/// (re-exporting to the cache a build imported from): then nothing needs fetching, and the
/// push skips those blobs after its HEAD.
async fn at_destination(
    client: &RegistryClient,
    store: &Store,
    location: &Location,
    chain: &Chain,
) -> bool {
    let Location::Registry(r) = location else {
        return false;
    };
    let repo = kiln_registry::ReferenceExt::repo(r);
    for l in chain
        .layers
        .iter()
        .filter(|l| !store.content().exists(&l.blob))
    {
        if !matches!(client.blob_exists(&repo, &l.blob).await, Ok(true)) {
            return false;
        }
    }
    true
}

/// Rewrite `image` with the inline cache of `entries` in its config; returns the new
/// record, named `names` (the first, unnamed record is dropped). `solved` is the build's
/// chain, `chain` the image's (see `inline::encode`).
pub fn with_inline_cache(
    store: &Store,
    image: &kiln_cache::ImageRecord,
    entries: &[CacheEntry],
    (solved, chain): (&Chain, &Chain),
    names: &[Reference],
) -> anyhow::Result<kiln_cache::ImageRecord> {
    use kiln_cache::image::spec::Descriptor;
    let Some(value) = inline::encode(entries, solved, chain) else {
        return Ok(store.register_image(&image.manifest_digest, names)?);
    };
    let mut config = store.read_config(&image.config_digest)?;
    config
        .extra
        .insert(remote::format::INLINE_CACHE_KEY.into(), value);
    let mut manifest = store.read_manifest(&image.manifest_digest)?;
    let _guard = store.write_guard()?;
    let cfg = store.content().put_bytes(&serde_json::to_vec(&config)?)?;
    manifest.config = Descriptor::new(&manifest.config.media_type, cfg.digest, cfg.size);
    let m = store.content().put_bytes(&serde_json::to_vec(&manifest)?)?;
    let record = store.register_image(&m.digest, names)?;
    if m.digest != image.manifest_digest {
        if let Err(e) = store.delete_image(&image.manifest_digest) {
            tracing::debug!("keeping the image without inline cache: {e}");
        }
    }
    Ok(record)
}
