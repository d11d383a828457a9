//! What the remote sources (`ADD <url>`, `ADD <git repo>`) share: the results fetched while
//! keying a vertex (the content key of a URL without a pinned checksum is the downloaded
//! content, so keying already has the file), and turning fetched files into a one-layer
//! chain the copy that follows reads.
//!
//! API (crate-internal): [`Fetched`], [`single_layer`], [`RemoteError`].

use std::collections::HashMap;
use std::sync::Mutex;

use kiln_cache::layer::{Entry, LayerError};
use kiln_cache::lease::Lease;
use kiln_cache::{Store, StoreError};
use kiln_frontend::graph::Digest;

use super::chain::Chain;
use super::entries_layer::write_entries_layer;

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("writing the fetched files as a layer: {0}")]
    Layer(#[from] LayerError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Chains fetched during keying, by vertex, for `run` to use instead of fetching again.
#[derive(Debug, Default)]
pub struct Fetched(Mutex<HashMap<Digest, Chain>>);

impl Fetched {
    pub fn put(&self, vertex: &Digest, chain: Chain) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(vertex.clone(), chain);
    }

    /// The chain fetched for `vertex`, if keying fetched one.
    pub fn take(&self, vertex: &Digest) -> Option<Chain> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(vertex)
    }
}

/// Write `entries` as one layer (the files at its root) and return it as a chain. Mtimes
/// are kept as given: reproducible builds clamp them when the image is exported.
pub fn single_layer(
    store: &Store,
    lease: Option<&Lease>,
    entries: &[Entry],
) -> Result<Chain, RemoteError> {
    Ok(Chain {
        layers: vec![write_entries_layer::<RemoteError>(store, lease, entries)?],
    })
}
