//! A build state: the chain of layers a step's filesystem is made of (bottom first), and
//! how it is kept in the store as the result of a cache record: a small JSON document (a
//! blob) listing the layers, so a cache hit needs no unpacked directory at all.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use kiln_cache::image::spec::{chain_ids, media};
use kiln_cache::image::time::parse_rfc3339;
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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Layer {
    /// Digest of the uncompressed tar (the config's `rootfs.diff_ids` entry).
    pub diff_id: Digest,
    /// Digest of the stored, compressed blob.
    pub blob: Digest,
    pub size: u64,
    pub media_type: String,
    /// Unix seconds when the step that made this layer ran (BuildKit's `createdAt`): the
    /// `created` of its history entry, so a cached rebuild writes the same image. `None`
    /// until the worker dates it, and in documents written before kiln kept it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<i64>,
}

/// Layers are the same layer when their contents are: when one was made is metadata (two
/// cache records may date a shared layer differently).
impl PartialEq for Layer {
    fn eq(&self, other: &Self) -> bool {
        self.diff_id == other.diff_id
            && self.blob == other.blob
            && self.size == other.size
            && self.media_type == other.media_type
    }
}

impl Eq for Layer {}

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

    /// This chain with the layers of unknown creation time dated `created`: a step's new
    /// layers when it ran, or a cache record's layers from before kiln kept layer times
    /// (the record's own time, so those rebuilds stay stable too).
    pub fn dated(mut self, created: i64) -> Chain {
        for l in &mut self.layers {
            l.created.get_or_insert(created);
        }
        self
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

    /// The chain of a stored image: its layers with the blobs that hold them, dated by the
    /// image's history (the entries with a layer, in order), else by the image's `created`.
    pub fn of_image(store: &Store, image: &ImageRecord) -> Result<Chain, ChainError> {
        let config = store.read_config(&image.config_digest)?;
        let manifest = store.read_manifest(&image.manifest_digest)?;
        let blobs = manifest
            .layers
            .iter()
            .filter(|l| l.media_type != media::DOCKER_FOREIGN_LAYER);
        let image_created = config.created.as_deref().and_then(parse_rfc3339);
        let mut history_times = config
            .history
            .iter()
            .filter(|h| !h.empty_layer)
            .map(|h| h.created.as_deref().and_then(parse_rfc3339));
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
                created: history_times.next().flatten().or(image_created),
            })
            .collect();
        Ok(Chain { layers })
    }
}

/// A chain shared between steps without copying.
pub type SharedChain = Arc<Chain>;

/// A made-up layer `n` for tests (digests of `d<n>`/`b<n>`).
#[cfg(test)]
pub(crate) fn test_layer(n: u8, created: Option<i64>) -> Layer {
    Layer {
        diff_id: Digest::of_bytes(&[b'd', n]),
        blob: Digest::of_bytes(&[b'b', n]),
        size: 1,
        media_type: LAYER_MEDIA_TYPE.into(),
        created,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(n: u8, created: Option<i64>) -> Layer {
        test_layer(n, created)
    }

    #[test]
    fn dating_fills_only_unknown_times() {
        let chain = Chain {
            layers: vec![layer(1, Some(5)), layer(2, None)],
        }
        .dated(9);
        let times: Vec<_> = chain.layers.iter().map(|l| l.created).collect();
        assert_eq!(times, vec![Some(5), Some(9)]);
    }

    #[test]
    fn layers_compare_by_content_not_time() {
        assert_eq!(layer(1, Some(5)), layer(1, None));
        assert_ne!(layer(1, Some(5)), layer(2, Some(5)));
    }

    #[test]
    fn documents_without_times_still_read() {
        let old = r#"{"format":"kiln.build-state.v1","layers":[{"diff_id":"sha256:0000000000000000000000000000000000000000000000000000000000000000","blob":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":3,"media_type":"m"}]}"#;
        let doc: StateDoc = serde_json::from_str(old).unwrap();
        assert_eq!(doc.layers[0].created, None);
        let dated = serde_json::to_string(&Chain { layers: doc.layers }.dated(7).layers).unwrap();
        assert!(dated.contains(r#""created":7"#), "{dated}");
    }
}
