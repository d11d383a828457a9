//! Remote build caches: step results exported to, and imported from, somewhere other than
//! the local store — a registry (`type=registry`), an OCI layout directory (`type=local`) or
//! the image config itself (`type=inline`), all in BuildKit's cache manifest format.
//!
//! Import is lazy: the cache documents are read before the build, but a layer blob is
//! fetched only when a step's key hits a record that needs it (a fully cached build fetches
//! the layers of its final state only). A hit becomes an ordinary local cache record.
//!
//! API: [`CacheEntry`] (what is exported), [`ImportedCache`] (what the worker asks),
//! [`registry`], [`layout`], [`inline`], [`mounts`] for the transports and formats;
//! [`blob_sink`] for registry downloads into the store (also used by `kiln pull`).

pub mod blob_sink;
pub mod format;
pub mod inline;
pub mod layout;
pub mod mounts;
pub mod registry;
pub mod report;
pub mod sources;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use kiln_cache::{Store, StoreError};

use crate::cachekey::CacheKey;
use crate::local::{Chain, Layer};

pub use format::{CacheConfig, CacheEntry, CACHE_CONFIG_MEDIA_TYPE};
use report::{HitReport, ProgressSlot};

/// Blobs fetched at once while importing one record.
const PARALLEL_FETCHES: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("build cache {cache}: {source}")]
    Registry {
        cache: String,
        #[source]
        source: Box<kiln_registry::RegistryError>,
    },
    #[error("build cache {cache}: {source}")]
    Format {
        cache: String,
        #[source]
        source: format::FormatError,
    },
    #[error("build cache {cache}: {detail}")]
    Unusable { cache: String, detail: String },
    #[error("build cache {cache}: {op} {path}: {source}")]
    Io {
        cache: String,
        op: &'static str,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("build cache {cache}: {source}")]
    Store {
        cache: String,
        #[source]
        source: StoreError,
    },
}

/// Where the blobs of an imported cache come from.
#[async_trait]
pub trait BlobFetcher: Send + Sync {
    /// Put `layer`'s blob into the store, verified against its digest; `on_bytes` is told
    /// how many bytes have arrived, now and then.
    async fn fetch(
        &self,
        store: &Store,
        layer: &Layer,
        on_bytes: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<(), RemoteError>;
    /// The cache as the user named it, for messages.
    fn name(&self) -> &str;
    /// The registry repository the blobs are in, for caches that live in one (what a
    /// later export can mount them from).
    fn repository(&self) -> Option<kiln_registry::Repository> {
        None
    }
}

/// A cache read from `--cache-from`: its records by key, and where their blobs are.
pub struct ImportedCache {
    records: HashMap<CacheKey, Chain>,
    fetcher: Box<dyn BlobFetcher>,
}

impl ImportedCache {
    pub fn new(records: HashMap<CacheKey, Chain>, fetcher: Box<dyn BlobFetcher>) -> Self {
        ImportedCache { records, fetcher }
    }

    pub fn name(&self) -> &str {
        self.fetcher.name()
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// The registry repository holding the cache's blobs, when it is a registry cache.
    pub fn repository(&self) -> Option<kiln_registry::Repository> {
        self.fetcher.repository()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Every record key of the cache.
    pub fn keys(&self) -> impl Iterator<Item = &CacheKey> {
        self.records.keys()
    }

    pub fn contains(&self, key: &CacheKey) -> bool {
        self.records.contains_key(key)
    }

    /// The chain recorded for `key`, whether or not its blobs are here.
    pub fn record(&self, key: &CacheKey) -> Option<&Chain> {
        self.records.get(key)
    }

    /// The chain recorded for `key`, with every blob it needs present in the store
    /// (fetched now where missing, told to `report`); `None` when the cache has no such
    /// record.
    pub async fn materialize(
        &self,
        store: &Store,
        key: &CacheKey,
        report: Option<&HitReport>,
    ) -> Result<Option<Chain>, RemoteError> {
        let Some(chain) = self.records.get(key) else {
            return Ok(None);
        };
        // Owned layers: a future borrowing from the iterator trips async_trait's Send bound.
        let missing: Vec<Layer> = chain
            .layers
            .iter()
            .filter(|l| !store.content().exists(&l.blob))
            .cloned()
            .collect();
        tracing::debug!(cache = self.name(), %key, missing = missing.len(), "remote cache hit");
        if let (Some(r), false) = (report, missing.is_empty()) {
            r.start(self.name(), &missing);
        }
        let fetcher = &self.fetcher;
        futures::stream::iter(missing)
            .map(|l| async move {
                let layer_report = report.map(|r| r.layer(&l));
                let on_bytes = |done: u64| {
                    if let Some(lr) = &layer_report {
                        lr.bytes(done);
                    }
                };
                fetcher.fetch(store, &l, &on_bytes).await
            })
            .buffer_unordered(PARALLEL_FETCHES)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(Some(chain.clone()))
    }
}

/// Several imported caches, asked in order.
#[derive(Clone, Default)]
pub struct RemoteCaches {
    pub caches: Vec<Arc<ImportedCache>>,
    progress: ProgressSlot,
}

impl RemoteCaches {
    pub fn new(caches: Vec<Arc<ImportedCache>>) -> Self {
        RemoteCaches {
            caches,
            progress: ProgressSlot::default(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.caches.is_empty()
    }

    /// Show the downloads of cache hits on `progress` (log lines on the step that hit);
    /// every clone of these caches reports there from now on.
    /// Call [`RemoteCaches::stop_reporting`] when the solve is over: the progress
    /// receiver ends only when every sender is dropped.
    pub fn report_to(&self, progress: crate::Progress) {
        self.progress.set(Some(progress));
    }

    /// Drop the progress sink given to [`RemoteCaches::report_to`].
    pub fn stop_reporting(&self) {
        self.progress.set(None);
    }

    /// The first cache's chain for `key`, blobs not fetched: what a re-export passes on
    /// for steps this build took from the cache without visiting them.
    pub fn record(&self, key: &CacheKey) -> Option<Chain> {
        self.caches.iter().find_map(|c| c.record(key).cloned())
    }

    /// The first cache's chain for `key`, blobs fetched. A cache that fails is warned about
    /// and skipped: a broken remote cache costs a rebuild, never the build.
    pub async fn materialize(&self, store: &Store, key: &CacheKey) -> Option<Chain> {
        self.materialize_inner(store, key, None).await
    }

    /// Like [`RemoteCaches::materialize`] for the step `vertex`, whose log shows the
    /// downloads (see [`RemoteCaches::report_to`]).
    pub async fn materialize_for(
        &self,
        store: &Store,
        key: &CacheKey,
        vertex: &kiln_frontend::graph::Digest,
    ) -> Option<Chain> {
        let report = self.progress.for_step(vertex);
        self.materialize_inner(store, key, report.as_ref()).await
    }

    async fn materialize_inner(
        &self,
        store: &Store,
        key: &CacheKey,
        report: Option<&HitReport>,
    ) -> Option<Chain> {
        for cache in &self.caches {
            if !cache.contains(key) {
                continue;
            }
            match cache.materialize(store, key, report).await {
                Ok(Some(chain)) => return Some(chain),
                Ok(None) => {}
                Err(e) => tracing::warn!("{e}; the step runs instead"),
            }
        }
        None
    }
}
