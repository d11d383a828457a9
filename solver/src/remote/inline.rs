//! `type=inline` caches: the cache config rides in the image config under
//! `moby.buildkit.cache.v0` (base64 JSON, as BuildKit writes it), over the image's own
//! layers. Only steps whose result is a bottom part of the image's chain can be described
//! this way (BuildKit's `mode=min`).

use std::collections::HashMap;

use base64::Engine as _;
use kiln_cache::image::spec::{Descriptor, ImageConfig};

use super::format::{self, CacheConfig, CacheEntry, ANNOTATION_UNCOMPRESSED, INLINE_CACHE_KEY};
use super::RemoteError;
use crate::cachekey::CacheKey;
use crate::local::{Chain, Layer};

/// The value to store under [`INLINE_CACHE_KEY`] for the entries whose results the image
/// starts with; `None` when there are none. `solved` is the build's own chain, `image` the
/// layers the image got: the same number of layers means each is the build's layer as the
/// output converted it (compression, SOURCE_DATE_EPOCH clamp), so a step whose result is
/// the bottom of `solved` is recorded with the image's layers at those places — the only
/// blobs an importer finds beside the config, and the ones that make the same image again.
/// Otherwise (`--squash`) only results whose diff ids the image starts with are recorded.
pub fn encode(entries: &[CacheEntry], solved: &Chain, image: &Chain) -> Option<serde_json::Value> {
    // What an entry's layers must match, place by place: the build's own layers when the
    // image has as many (its own are converted), else the image's by content.
    let (against, same): (&Chain, fn(&Layer, &Layer) -> bool) =
        if solved.layers.len() == image.layers.len() {
            (solved, |a, b| a == b)
        } else {
            (image, |a, b| a.diff_id == b.diff_id)
        };
    let inside: Vec<CacheEntry> = entries
        .iter()
        .filter_map(|e| {
            let n = e.chain.layers.len();
            let mine = image.layers.get(..n)?;
            let theirs = against.layers.get(..n)?;
            let matches = e.chain.layers.iter().zip(theirs).all(|(a, b)| same(a, b));
            matches.then(|| CacheEntry {
                chain: Chain {
                    layers: mine.to_vec(),
                },
                ..e.clone()
            })
        })
        .collect();
    if inside.is_empty() {
        return None;
    }
    let (config, _) = format::encode(&inside);
    let json = serde_json::to_vec(&config).ok()?;
    Some(serde_json::Value::String(
        base64::engine::general_purpose::STANDARD.encode(json),
    ))
}

/// Whether `chain` is a bottom part of `image` (an empty chain is, of any image).
pub fn is_prefix(chain: &Chain, image: &Chain) -> bool {
    chain.layers.len() <= image.layers.len()
        && chain.layers.iter().zip(&image.layers).all(|(a, b)| a == b)
}

/// The records of an image's inline cache; an image without one has none.
pub fn decode_image(
    cache: &str,
    config: &ImageConfig,
    layers: &[Descriptor],
) -> Result<HashMap<CacheKey, Chain>, RemoteError> {
    let Some(value) = config.extra.get(INLINE_CACHE_KEY) else {
        tracing::warn!("build cache {cache}: the image has no inline cache ({INLINE_CACHE_KEY}); nothing to import");
        return Ok(HashMap::new());
    };
    let unusable = |detail: String| RemoteError::Unusable {
        cache: cache.to_string(),
        detail,
    };
    let text = value
        .as_str()
        .ok_or_else(|| unusable(format!("{INLINE_CACHE_KEY} is not a string")))?;
    let json = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| unusable(format!("{INLINE_CACHE_KEY} is not base64: {e}")))?;
    let cfg: CacheConfig = serde_json::from_slice(&json)
        .map_err(|e| unusable(format!("{INLINE_CACHE_KEY} is not a cache config: {e}")))?;
    // The image's diff ids pair with its layers by position.
    let descriptors: Vec<Descriptor> = layers
        .iter()
        .zip(&config.rootfs.diff_ids)
        .map(|(d, diff)| {
            let mut d = d.clone();
            d.annotations
                .entry(ANNOTATION_UNCOMPRESSED.to_string())
                .or_insert_with(|| diff.to_string());
            d
        })
        .collect();
    format::decode(&cfg, &descriptors).map_err(|source| RemoteError::Format {
        cache: cache.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_cache::image::spec::RootFs;
    use kiln_cache::Digest;

    fn layer(n: u8) -> Layer {
        Layer {
            diff_id: Digest::of_bytes(&[b'd', n]),
            blob: Digest::of_bytes(&[b'b', n]),
            size: 10,
            media_type: crate::local::chain::LAYER_MEDIA_TYPE.into(),
            created: None,
        }
    }

    /// Put `value` into a config for `image` and read it back as an importer does, with
    /// the layers as a registry serves the manifest (no diff id annotations).
    fn read_back(value: serde_json::Value, image: &Chain) -> HashMap<CacheKey, Chain> {
        let mut config = ImageConfig {
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: image.diff_ids(),
            },
            ..Default::default()
        };
        config.extra.insert(INLINE_CACHE_KEY.into(), value);
        let layers: Vec<Descriptor> = image
            .layers
            .iter()
            .map(|l| Descriptor::new(&l.media_type, l.blob.clone(), l.size))
            .collect();
        decode_image("test", &config, &layers).unwrap()
    }

    #[test]
    fn keeps_only_steps_inside_the_image_and_reads_them_back() {
        let image = Chain {
            layers: vec![layer(1), layer(2)],
        };
        let key = |s: &str| CacheKey::from_stored(format!("sha256:{s}"));
        let entries = vec![
            CacheEntry {
                key: key("a"),
                inputs: vec![],
                chain: Chain {
                    layers: vec![layer(1)],
                },
            },
            CacheEntry {
                key: key("b"),
                inputs: vec![key("a")],
                chain: image.clone(),
            },
            CacheEntry {
                key: key("other-stage"),
                inputs: vec![],
                chain: Chain {
                    layers: vec![layer(3)],
                },
            },
        ];
        let value = encode(&entries, &image, &image).expect("inline cache");
        let records = read_back(value, &image);
        assert_eq!(records.len(), 2);
        assert_eq!(records[&key("b")], image);
        assert!(!records.contains_key(&key("other-stage")));
    }

    #[test]
    fn points_at_the_image_blobs_when_the_output_converted_them() {
        let built = Chain {
            layers: vec![layer(1), layer(2)],
        };
        // Other blobs, even other diff ids: what an output's compression and
        // SOURCE_DATE_EPOCH clamp make of the same layers.
        let image = Chain {
            layers: built
                .layers
                .iter()
                .map(|l| Layer {
                    blob: Digest::of_bytes(l.blob.to_string().as_bytes()),
                    diff_id: Digest::of_bytes(l.diff_id.to_string().as_bytes()),
                    media_type: "application/vnd.oci.image.layer.v1.tar+zstd".into(),
                    ..l.clone()
                })
                .collect(),
        };
        let key = CacheKey::from_stored("sha256:b".to_string());
        let entries = vec![CacheEntry {
            key: key.clone(),
            inputs: vec![],
            chain: built.clone(),
        }];
        let value = encode(&entries, &built, &image).expect("inline cache");
        let records = read_back(value, &image);
        assert_eq!(records[&key], image);
    }

    #[test]
    fn a_squashed_image_keeps_only_the_steps_it_starts_with() {
        let solved = Chain {
            layers: vec![layer(1), layer(2), layer(3)],
        };
        // `--squash`: the base layer, then one layer for all the build's own.
        let image = Chain {
            layers: vec![layer(1), layer(9)],
        };
        let key = |s: &str| CacheKey::from_stored(format!("sha256:{s}"));
        let entry = |k: &str, n: usize| CacheEntry {
            key: key(k),
            inputs: vec![],
            chain: Chain {
                layers: solved.layers[..n].to_vec(),
            },
        };
        let entries = vec![entry("base", 1), entry("step", 2), entry("last", 3)];
        let value = encode(&entries, &solved, &image).expect("inline cache");
        let records = read_back(value, &image);
        assert_eq!(records.len(), 1, "{records:?}");
        assert_eq!(records[&key("base")].layers, vec![layer(1)]);
        let only_steps = vec![entry("step", 2), entry("last", 3)];
        assert!(encode(&only_steps, &solved, &image).is_none());
    }
}
