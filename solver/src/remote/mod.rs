//! Remote build caches: step results exported to, and imported from, somewhere other than
//! the local store — a registry (`type=registry`), an OCI layout directory (`type=local`) or
//! the image config itself (`type=inline`), all in BuildKit's cache manifest format.
//!
//! Import is lazy: the cache documents are read before the build, but a layer blob is
//! fetched only when a step's key hits a record that needs it (a fully cached build fetches
//! the layers of its final state only). A hit becomes an ordinary local cache record.
//!
//! API: [`CacheEntry`] (what is exported), [`ImportedCache`] (what the worker asks),
//! [`registry`], [`layout`], [`inline`], [`mounts`] for the transports and formats.

pub mod format;
pub mod inline;
pub mod layout;
pub mod mounts;
pub mod registry;
pub mod sources;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use kiln_cache::{Store, StoreError};

use crate::cachekey::CacheKey;
use crate::local::{Chain, Layer};

pub use format::{CacheConfig, CacheEntry, CACHE_CONFIG_MEDIA_TYPE};

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
    /// Put `layer`'s blob into the store, verified against its digest.
    async fn fetch(&self, store: &Store, layer: &Layer) -> Result<(), RemoteError>;
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
    /// (fetched now where missing); `None` when the cache has no such record.
    pub async fn materialize(
        &self,
        store: &Store,
        key: &CacheKey,
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
        let fetcher = &self.fetcher;
        futures::stream::iter(missing)
            .map(|l| async move { fetcher.fetch(store, &l).await })
            .buffer_unordered(PARALLEL_FETCHES)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(Some(chain.clone()))
    }
}

/// Several imported caches, asked in order.
#[derive(Clone, Default)]
pub struct RemoteCaches(pub Vec<Arc<ImportedCache>>);

impl RemoteCaches {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first cache's chain for `key`, blobs not fetched: what a re-export passes on
    /// for steps this build took from the cache without visiting them.
    pub fn record(&self, key: &CacheKey) -> Option<Chain> {
        self.0.iter().find_map(|c| c.record(key).cloned())
    }

    /// The first cache's chain for `key`, blobs fetched. A cache that fails is warned about
    /// and skipped: a broken remote cache costs a rebuild, never the build.
    pub async fn materialize(&self, store: &Store, key: &CacheKey) -> Option<Chain> {
        for cache in &self.0 {
            if !cache.contains(key) {
                continue;
            }
            match cache.materialize(store, key).await {
                Ok(Some(chain)) => return Some(chain),
                Ok(None) => {}
                Err(e) => tracing::warn!("{e}; the step runs instead"),
            }
        }
        None
    }
}
