//! A build state: the chain of layers a step's filesystem is made of (bottom first), and
//! how it is kept in the store as the result of a cache record: a small JSON document (a
//! blob) listing the layers, so a cache hit needs no unpacked directory at all.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use kiln_cache::image::spec::{chain_ids, media};
use kiln_cache::ImageRecord;
use kiln_cache::{Digest, Store, StoreError};

/// Media type of the layers kiln writes (gzip, as BuildKit's default).
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// Version tag inside a state document, so a future format is not misread.
const STATE_FORMAT: &str = "kiln.build-state.v1";

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("build state document {digest} is unreadable ({reason}); run `kiln prune` to drop the cache record")]
    BadDocument { digest: Digest, reason: String },
}

/// One layer of a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    /// Digest of the uncompressed tar (the config's `rootfs.diff_ids` entry).
    pub diff_id: Digest,
    /// Digest of the stored, compressed blob.
    pub blob: Digest,
    pub size: u64,
    pub media_type: String,
}

/// The filesystem of a build state as a stack of layers, bottom first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chain {
    pub layers: Vec<Layer>,
}

#[derive(Serialize, Deserialize)]
struct StateDoc {
    format: String,
    layers: Vec<Layer>,
}

impl Chain {
    pub fn diff_ids(&self) -> Vec<Digest> {
        self.layers.iter().map(|l| l.diff_id.clone()).collect()
    }

    /// The chain id of the top layer (OCI image spec), `None` for an empty chain.
    pub fn top_chain_id(&self) -> Option<Digest> {
        chain_ids(&self.diff_ids()).pop()
    }

    /// This chain with `layer` on top.
    pub fn with(&self, layer: Layer) -> Chain {
        let mut layers = self.layers.clone();
        layers.push(layer);
        Chain { layers }
    }

    /// Overlay lower directories, BOTTOM first (the executor's order); unpacks each layer
    /// at most once per store.
    pub fn lowerdirs(&self, store: &Store) -> Result<Vec<PathBuf>, ChainError> {
        let mut dirs = store.chain_lowerdirs(&self.diff_ids())?;
        dirs.reverse();
        Ok(dirs)
    }

    /// Store the chain as a state document; returns the document's digest.
    pub fn save(&self, store: &Store) -> Result<Digest, ChainError> {
        let doc = StateDoc {
            format: STATE_FORMAT.into(),
            layers: self.layers.clone(),
        };
        let bytes = serde_json::to_vec(&doc).map_err(|e| ChainError::BadDocument {
            digest: Digest::of_bytes(b""),
            reason: e.to_string(),
        })?;
        let info = store
            .content()
            .put_bytes(&bytes)
            .map_err(StoreError::from)?;
        Ok(info.digest)
    }

    /// Read a state document; `Ok(None)` when a layer blob it names is gone (the record is
    /// then useless and the step runs again).
    pub fn load(store: &Store, digest: &Digest) -> Result<Option<Chain>, ChainError> {
        if !store.content().exists(digest) {
            return Ok(None);
        }
        let bytes = store
            .content()
            .read_limited(digest, 16 << 20)
            .map_err(StoreError::from)?;
        let bad = |reason: String| ChainError::BadDocument {
            digest: digest.clone(),
            reason,
        };
        let doc: StateDoc = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if doc.format != STATE_FORMAT {
            return Err(bad(format!("unknown format {:?}", doc.format)));
        }
        if doc.layers.iter().any(|l| !store.content().exists(&l.blob)) {
            return Ok(None);
        }
        Ok(Some(Chain { layers: doc.layers }))
    }

    /// The chain of a stored image: its layers with the blobs that hold them.
    pub fn of_image(store: &Store, image: &ImageRecord) -> Result<Chain, ChainError> {
        let config = store.read_config(&image.config_digest)?;
        let manifest = store.read_manifest(&image.manifest_digest)?;
        let blobs = manifest
            .layers
            .iter()
            .filter(|l| l.media_type != media::DOCKER_FOREIGN_LAYER);
        let layers = config
            .rootfs
            .diff_ids
            .iter()
            .zip(blobs)
            .map(|(d, l)| Layer {
                diff_id: d.clone(),
                blob: l.digest.clone(),
                size: l.size,
                media_type: l.media_type.clone(),
            })
            .collect();
        Ok(Chain { layers })
    }
}

/// A chain shared between steps without copying.
pub type SharedChain = Arc<Chain>;
