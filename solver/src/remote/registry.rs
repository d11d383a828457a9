//! `type=registry` caches: the cache as an OCI image manifest whose config is the
//! BuildKit cache config and whose layers are the cached layer blobs (BuildKit's
//! `image-manifest=true` layout, which every OCI registry accepts). Reading also takes
//! BuildKit's older index layout and images carrying an inline cache.

use std::collections::HashMap;

use async_trait::async_trait;
use kiln_cache::image::spec::{media, Descriptor, ImageConfig, Manifest as OciManifest};
use kiln_cache::{Digest, Reference, Store};
use kiln_registry::{
    BlobSource, Manifest, PushOutcome, ReferenceExt, RegistryClient, RegistryError, Repository,
};

use super::blob_sink::BlobSink;
use super::format::{self, CacheConfig, CacheEntry, CACHE_CONFIG_MEDIA_TYPE};
use super::sources::MountSources;
use super::{inline, BlobFetcher, ImportedCache, RemoteError};
use crate::cachekey::CacheKey;
use crate::local::{Chain, Layer};

/// What an export did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    /// The cache manifest's digest.
    pub digest: Digest,
    /// Blobs sent (layers and the cache config).
    pub uploaded: usize,
    /// Blobs the registry linked from another repository (no bytes sent).
    pub mounted: usize,
    /// Blobs the repository already had.
    pub present: usize,
}

/// Push `entries` (their layer blobs as stored, skipping what the registry has, mounting
/// what `mounts` knows another repository of the registry has) and the cache manifest to
/// `reference`.
pub async fn export(
    client: &RegistryClient,
    store: &Store,
    reference: &Reference,
    entries: &[CacheEntry],
    mounts: &MountSources,
) -> Result<ExportSummary, RemoteError> {
    let cache = reference.to_string();
    let reg = |source| RemoteError::Registry {
        cache: cache.clone(),
        source: Box::new(source),
    };
    let (config, blobs) = format::encode(entries);
    let config_bytes = serde_json::to_vec(&config).map_err(|e| RemoteError::Unusable {
        cache: cache.clone(),
        detail: format!("encoding the cache config: {e}"),
    })?;
    let config_desc = Descriptor::new(
        CACHE_CONFIG_MEDIA_TYPE,
        Digest::of_bytes(&config_bytes),
        config_bytes.len() as u64,
    );
    let layers = format::layer_descriptors(&blobs);
    let mut pushes: Vec<(Descriptor, BlobSource)> = layers
        .iter()
        .map(|d| (d.clone(), BlobSource::File(store.content().path(&d.digest))))
        .collect();
    pushes.push((config_desc.clone(), BlobSource::Bytes(config_bytes.into())));
    let repo = reference.repo();
    let outcomes = client
        .push_blobs_mounting(&repo, &pushes, |d| mounts.get(&d.digest))
        .await
        .map_err(reg)?;
    let count = |f: fn(&PushOutcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
    let manifest = OciManifest {
        schema_version: 2,
        media_type: Some(media::OCI_MANIFEST.into()),
        config: config_desc,
        layers,
        annotations: Default::default(),
        extra: Default::default(),
    };
    let bytes = serde_json::to_vec(&manifest).map_err(|e| RemoteError::Unusable {
        cache: cache.clone(),
        detail: format!("encoding the cache manifest: {e}"),
    })?;
    let digest = client
        .put_manifest(reference, media::OCI_MANIFEST, bytes.into())
        .await
        .map_err(reg)?;
    Ok(ExportSummary {
        digest,
        uploaded: count(|o| matches!(o, PushOutcome::Uploaded { .. })),
        mounted: count(|o| matches!(o, PushOutcome::Mounted)),
        present: count(|o| matches!(o, PushOutcome::AlreadyPresent)),
    })
}

/// Read the cache at `reference`. A missing manifest is an empty cache (the first build
/// of a CI pipeline has nothing to import), reported as `Ok(None)`.
pub async fn import(
    client: &RegistryClient,
    reference: &Reference,
) -> Result<Option<ImportedCache>, RemoteError> {
    let cache = reference.to_string();
    let reg = |source| RemoteError::Registry {
        cache: cache.clone(),
        source: Box::new(source),
    };
    let repo = reference.repo();
    let raw = match client.get_manifest(&repo, &reference.manifest_ref()).await {
        Ok(r) => r,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(reg(e)),
    };
    let parsed =
        Manifest::parse(&raw.media_type, &raw.bytes).map_err(|e| RemoteError::Unusable {
            cache: cache.clone(),
            detail: e.to_string(),
        })?;
    let records = match parsed {
        Manifest::Image(m) if m.config.media_type == CACHE_CONFIG_MEDIA_TYPE => {
            let bytes = client
                .fetch_blob_bytes(&repo, &m.config)
                .await
                .map_err(reg)?;
            decode(&cache, &bytes, &m.layers)?
        }
        Manifest::Image(m) => {
            // An image: its config may carry an inline cache over its own layers.
            let bytes = client
                .fetch_blob_bytes(&repo, &m.config)
                .await
                .map_err(reg)?;
            let config: ImageConfig =
                serde_json::from_slice(&bytes).map_err(|e| RemoteError::Unusable {
                    cache: cache.clone(),
                    detail: format!("image config {} is not valid JSON: {e}", m.config.digest),
                })?;
            inline::decode_image(&cache, &config, &m.layers)?
        }
        Manifest::Index(index) => {
            // BuildKit's index layout: the config and the layers are all index entries.
            let (configs, layers): (Vec<Descriptor>, Vec<Descriptor>) = index
                .manifests
                .into_iter()
                .partition(|d| d.media_type == CACHE_CONFIG_MEDIA_TYPE);
            let Some(config) = configs.first() else {
                return Err(RemoteError::Unusable {
                    cache,
                    detail: format!(
                        "the index lists no {CACHE_CONFIG_MEDIA_TYPE} entry; it is not a build cache"
                    ),
                });
            };
            let bytes = client.fetch_blob_bytes(&repo, config).await.map_err(reg)?;
            decode(&cache, &bytes, &layers)?
        }
    };
    Ok(Some(ImportedCache::new(
        records,
        Box::new(RegistryFetcher {
            client: client.clone(),
            reference: reference.clone(),
            name: cache,
        }),
    )))
}

fn is_not_found(e: &RegistryError) -> bool {
    matches!(
        e,
        RegistryError::ManifestUnknown { .. } | RegistryError::RepositoryUnknown { .. }
    )
}

fn decode(
    cache: &str,
    bytes: &[u8],
    layers: &[Descriptor],
) -> Result<HashMap<CacheKey, Chain>, RemoteError> {
    let fmt = |source| RemoteError::Format {
        cache: cache.to_string(),
        source,
    };
    let config: CacheConfig = serde_json::from_slice(bytes)
        .map_err(format::FormatError::from)
        .map_err(fmt)?;
    format::decode(&config, layers).map_err(fmt)
}

struct RegistryFetcher {
    client: RegistryClient,
    reference: Reference,
    name: String,
}

#[async_trait]
impl BlobFetcher for RegistryFetcher {
    async fn fetch(
        &self,
        store: &Store,
        layer: &Layer,
        on_bytes: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<(), RemoteError> {
        let desc = Descriptor::new(&layer.media_type, layer.blob.clone(), layer.size);
        // The client verifies the digest while the bytes stream; the store only writes them.
        let mut w =
            BlobSink::new(store.content(), Some(on_bytes)).map_err(|e| RemoteError::Store {
                cache: self.name.clone(),
                source: e.into(),
            })?;
        self.client
            .fetch_blob(&self.reference.repo(), &desc, &mut w)
            .await
            .map_err(|source| RemoteError::Registry {
                cache: self.name.clone(),
                source: Box::new(source),
            })?;
        w.commit_verified(&layer.blob, layer.size)
            .map_err(|e| RemoteError::Store {
                cache: self.name.clone(),
                source: e.into(),
            })?;
        Ok(())
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn repository(&self) -> Option<Repository> {
        Some(self.reference.repo())
    }
}
