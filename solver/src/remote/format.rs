//! BuildKit's cache manifest format (`application/vnd.buildkit.cacheconfig.v0`): a config
//! listing layers (each with its parent, so a layer index names a whole chain) and records
//! (a cache key, the layer its result ends at, and links to the records of its inputs).
//! kiln writes its own cache keys as record digests; the layer chains are plain OCI blobs,
//! so other tools read the document and fetch the blobs, even though only kiln's keys hit.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use kiln_cache::image::spec::Descriptor;
use kiln_cache::image::time::format_rfc3339;
use kiln_cache::Digest;

use crate::cachekey::CacheKey;
use crate::local::{Chain, Layer};

mod decode;
pub use decode::decode;

/// Media type of the cache config blob.
pub const CACHE_CONFIG_MEDIA_TYPE: &str = "application/vnd.buildkit.cacheconfig.v0";
/// Image config key an inline cache is stored under (as BuildKit's inline cache).
pub const INLINE_CACHE_KEY: &str = "moby.buildkit.cache.v0";
/// Layer descriptor annotation holding the uncompressed digest (containerd's name for it).
pub const ANNOTATION_UNCOMPRESSED: &str = "containerd.io/uncompressed";

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("cache config is not valid {CACHE_CONFIG_MEDIA_TYPE} JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cache config layer {index} has parent {parent}, which is not an earlier layer of the document")]
    BadParent { index: usize, parent: i64 },
    #[error("cache config layer {index} ({blob}) has no diff id (annotations.diffID or a descriptor with {ANNOTATION_UNCOMPRESSED}); it cannot be applied")]
    NoDiffId { index: usize, blob: Digest },
    #[error(
        "cache config layer {index} names blob {blob}, which the cache manifest does not list"
    )]
    UnknownBlob { index: usize, blob: Digest },
}

/// The config document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CacheConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<CacheLayer>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<CacheRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheLayer {
    pub blob: Digest,
    /// Index of the layer below this one, -1 for a bottom layer.
    #[serde(rename = "parent", default = "no_parent")]
    pub parent: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<LayerAnnotations>,
}

fn no_parent() -> i64 {
    -1
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LayerAnnotations {
    #[serde(
        rename = "mediaType",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub media_type: String,
    #[serde(rename = "diffID", default, skip_serializing_if = "Option::is_none")]
    pub diff_id: Option<Digest>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub size: u64,
    /// When the step that made the layer ran (RFC 3339), so an importer's image history
    /// keeps the exporter's times.
    #[serde(rename = "createdAt", default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheRecord {
    pub digest: String,
    /// The result: the layer index the record's chain ends at.
    #[serde(rename = "layers", default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<CacheResult>,
    /// Results as chains of layer indexes, bottom first (BuildKit's `chains`): how a result
    /// with no layers at all is written, as one chain with no indexes.
    #[serde(rename = "chains", default, skip_serializing_if = "Vec::is_empty")]
    pub chains: Vec<ChainedResult>,
    /// Per input of the step, the records it may link to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<Vec<CacheInput>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChainedResult {
    #[serde(default)]
    pub layers: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheResult {
    pub layer: usize,
    /// When the result was made (RFC 3339): dates its top layer where that has no time.
    #[serde(rename = "createdAt", default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheInput {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub selector: String,
    pub link: usize,
}

/// One exported step result: its key, its inputs' keys, and its filesystem.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheEntry {
    pub key: CacheKey,
    pub inputs: Vec<CacheKey>,
    pub chain: Chain,
}

/// The config for `entries` and the layer blobs it refers to (each once), bottom layers
/// first. An entry with an empty chain (a step on `scratch` that adds no layer) becomes a
/// record whose one result is an empty chain, so it is a hit on import like any other.
pub fn encode(entries: &[CacheEntry]) -> (CacheConfig, Vec<Layer>) {
    let mut config = CacheConfig::default();
    let mut blobs: Vec<Layer> = Vec::new();
    let mut blob_seen: HashMap<Digest, ()> = HashMap::new();
    // (blob, parent index) → layer index: chains share their common bottom.
    let mut layer_index: HashMap<(Digest, i64), usize> = HashMap::new();
    let mut record_index: HashMap<&CacheKey, usize> = HashMap::new();
    for e in entries {
        let mut parent = -1i64;
        for l in &e.chain.layers {
            let idx = *layer_index
                .entry((l.blob.clone(), parent))
                .or_insert_with(|| {
                    config.layers.push(CacheLayer {
                        blob: l.blob.clone(),
                        parent,
                        annotations: Some(LayerAnnotations {
                            media_type: l.media_type.clone(),
                            diff_id: Some(l.diff_id.clone()),
                            size: l.size,
                            created_at: l.created.map(format_rfc3339),
                        }),
                    });
                    config.layers.len() - 1
                });
            if blob_seen.insert(l.blob.clone(), ()).is_none() {
                blobs.push(l.clone());
            }
            parent = idx as i64;
        }
        if record_index.contains_key(&e.key) {
            continue;
        }
        record_index.insert(&e.key, config.records.len());
        let (results, chains) = match usize::try_from(parent) {
            Ok(layer) => {
                let created_at = e.chain.layers.last().and_then(|l| l.created);
                let created_at = created_at.map(format_rfc3339);
                (vec![CacheResult { layer, created_at }], Vec::new())
            }
            Err(_) => (Vec::new(), vec![ChainedResult::default()]),
        };
        config.records.push(CacheRecord {
            digest: e.key.as_str().to_string(),
            results,
            chains,
            inputs: Vec::new(),
        });
    }
    // Links to input records, where the inputs were exported too (BuildKit's graph).
    for e in entries {
        let Some(&ri) = record_index.get(&e.key) else {
            continue;
        };
        let inputs: Vec<Vec<CacheInput>> = e
            .inputs
            .iter()
            .map(|k| {
                record_index
                    .get(k)
                    .map(|&link| {
                        vec![CacheInput {
                            selector: String::new(),
                            link,
                        }]
                    })
                    .unwrap_or_default()
            })
            .collect();
        if inputs.iter().any(|i| !i.is_empty()) {
            if let Some(r) = config.records.get_mut(ri) {
                r.inputs = inputs;
            }
        }
    }
    (config, blobs)
}

/// Layer descriptors for the manifest that carries `blobs`.
pub fn layer_descriptors(blobs: &[Layer]) -> Vec<Descriptor> {
    blobs
        .iter()
        .map(|l| {
            let mut d = Descriptor::new(&l.media_type, l.blob.clone(), l.size);
            d.annotations
                .insert(ANNOTATION_UNCOMPRESSED.to_string(), l.diff_id.to_string());
            d
        })
        .collect()
}

#[cfg(test)]
mod tests;
