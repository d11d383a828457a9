//! BuildKit's cache manifest format (`application/vnd.buildkit.cacheconfig.v0`): a config
//! listing layers (each with its parent, so a layer index names a whole chain) and records
//! (a cache key, the layer its result ends at, and links to the records of its inputs).
//! kiln writes its own cache keys as record digests; the layer chains are plain OCI blobs,
//! so other tools read the document and fetch the blobs, even though only kiln's keys hit.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use kiln_cache::image::spec::Descriptor;
use kiln_cache::Digest;

use crate::cachekey::CacheKey;
use crate::local::{Chain, Layer};

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
            Ok(layer) => (vec![CacheResult { layer }], Vec::new()),
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

/// Every record of `config` as a chain, by cache key. `descriptors` are the blobs the
/// carrying manifest lists (sizes, media types and diff ids where the config lacks them).
pub fn decode(
    config: &CacheConfig,
    descriptors: &[Descriptor],
) -> Result<HashMap<CacheKey, Chain>, FormatError> {
    let by_digest: BTreeMap<&Digest, &Descriptor> =
        descriptors.iter().map(|d| (&d.digest, d)).collect();
    let mut layers: Vec<(Layer, i64)> = Vec::with_capacity(config.layers.len());
    for (index, l) in config.layers.iter().enumerate() {
        if l.parent >= index as i64 || l.parent < -1 {
            return Err(FormatError::BadParent {
                index,
                parent: l.parent,
            });
        }
        let desc = by_digest.get(&l.blob).copied();
        let ann = l.annotations.clone().unwrap_or_default();
        let Some(desc) = desc else {
            return Err(FormatError::UnknownBlob {
                index,
                blob: l.blob.clone(),
            });
        };
        let diff_id = ann
            .diff_id
            .or_else(|| {
                desc.annotations
                    .get(ANNOTATION_UNCOMPRESSED)
                    .and_then(|s| Digest::parse(s).ok())
            })
            .ok_or_else(|| FormatError::NoDiffId {
                index,
                blob: l.blob.clone(),
            })?;
        let media_type = if ann.media_type.is_empty() {
            desc.media_type.clone()
        } else {
            ann.media_type
        };
        layers.push((
            Layer {
                diff_id,
                blob: l.blob.clone(),
                size: desc.size,
                media_type,
            },
            l.parent,
        ));
    }
    let mut out = HashMap::new();
    for r in &config.records {
        let chain = if let Some(result) = r.results.first() {
            let mut chain = Vec::new();
            let mut at = result.layer as i64;
            // Parents point strictly down (checked above), so this ends.
            while at >= 0 {
                let Some((layer, parent)) = layers.get(at as usize) else {
                    break;
                };
                chain.push(layer.clone());
                at = *parent;
            }
            if chain.is_empty() {
                continue;
            }
            chain.reverse();
            chain
        } else if let Some(result) = r.chains.first() {
            // Every index must exist: a chain with a hole would be a wrong filesystem.
            let picked: Option<Vec<Layer>> = result
                .layers
                .iter()
                .map(|&i| layers.get(i).map(|(l, _)| l.clone()))
                .collect();
            let Some(chain) = picked else { continue };
            chain
        } else {
            // A record without a result only links others (BuildKit writes those).
            continue;
        };
        out.insert(
            CacheKey::from_stored(r.digest.clone()),
            Chain { layers: chain },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(n: u8) -> Layer {
        Layer {
            diff_id: Digest::of_bytes(&[b'd', n]),
            blob: Digest::of_bytes(&[b'b', n]),
            size: 100 + n as u64,
            media_type: crate::local::chain::LAYER_MEDIA_TYPE.into(),
        }
    }

    fn key(s: &str) -> CacheKey {
        CacheKey::from_stored(Digest::of_bytes(s.as_bytes()).to_string())
    }

    #[test]
    fn round_trips_chains_sharing_a_bottom() {
        let a = CacheEntry {
            key: key("a"),
            inputs: vec![],
            chain: Chain {
                layers: vec![layer(1), layer(2)],
            },
        };
        let b = CacheEntry {
            key: key("b"),
            inputs: vec![key("a")],
            chain: Chain {
                layers: vec![layer(1), layer(2), layer(3)],
            },
        };
        let empty = CacheEntry {
            key: key("e"),
            inputs: vec![],
            chain: Chain::default(),
        };
        let (config, blobs) = encode(&[a.clone(), b.clone(), empty.clone()]);
        assert_eq!(
            config.layers.len(),
            3,
            "shared bottom layers are listed once"
        );
        assert_eq!(blobs.len(), 3);
        assert_eq!(config.records.len(), 3, "the empty result is a record too");
        assert_eq!(
            config.records[1].inputs,
            vec![vec![CacheInput {
                selector: String::new(),
                link: 0
            }]]
        );
        let json = serde_json::to_vec(&config).unwrap();
        let back: CacheConfig = serde_json::from_slice(&json).unwrap();
        let decoded = decode(&back, &layer_descriptors(&blobs)).unwrap();
        assert_eq!(decoded.len(), 3);
        assert_eq!(decoded[&a.key], a.chain);
        assert_eq!(decoded[&b.key], b.chain);
        assert_eq!(decoded[&empty.key], Chain::default());
        let json = String::from_utf8(json).unwrap();
        assert!(
            json.contains(r#""chains":[{"layers":[]}]"#),
            "an empty result is BuildKit's empty chain: {json}"
        );
    }

    #[test]
    fn a_record_without_any_result_is_not_an_empty_hit() {
        // BuildKit writes records that only link others; they must not read as "no files".
        let config: CacheConfig =
            serde_json::from_str(r#"{"records":[{"digest":"sha256:01"}]}"#).unwrap();
        assert!(decode(&config, &[]).unwrap().is_empty());
        // A chain naming a layer the document lacks is dropped, not shortened.
        let config: CacheConfig = serde_json::from_str(
            r#"{"records":[{"digest":"sha256:02","chains":[{"layers":[3]}]}]}"#,
        )
        .unwrap();
        assert!(decode(&config, &[]).unwrap().is_empty());
    }

    #[test]
    fn reads_buildkit_field_names() {
        let l = layer(1);
        let doc = format!(
            r#"{{"layers":[{{"blob":"{}","parent":-1}}],"records":[{{"digest":"sha256:00","layers":[{{"layer":0,"createdAt":"2024-01-01T00:00:00Z"}}]}}]}}"#,
            l.blob
        );
        let config: CacheConfig = serde_json::from_str(&doc).unwrap();
        let decoded = decode(&config, &layer_descriptors(std::slice::from_ref(&l))).unwrap();
        assert_eq!(decoded[&CacheKey::from_stored("sha256:00")].layers, vec![l]);
    }

    #[test]
    fn rejects_broken_documents() {
        let l = layer(1);
        let mut config = CacheConfig {
            layers: vec![CacheLayer {
                blob: l.blob.clone(),
                parent: 0,
                annotations: None,
            }],
            records: vec![],
        };
        assert!(matches!(
            decode(&config, &layer_descriptors(std::slice::from_ref(&l))),
            Err(FormatError::BadParent { .. })
        ));
        config.layers[0].parent = -1;
        assert!(matches!(
            decode(&config, &[]),
            Err(FormatError::UnknownBlob { .. })
        ));
        let bare = Descriptor::new(&l.media_type, l.blob.clone(), l.size);
        assert!(matches!(
            decode(&config, &[bare]),
            Err(FormatError::NoDiffId { .. })
        ));
    }
}
