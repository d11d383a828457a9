//! Reading a cache config back into chains by cache key (BuildKit's documents too: layer
//! times from `createdAt` or the older descriptor annotation, chains of records that only
//! list layers, records that only link others).

use std::collections::{BTreeMap, HashMap};

use kiln_cache::image::spec::Descriptor;
use kiln_cache::Digest;

use super::{CacheConfig, FormatError, ANNOTATION_UNCOMPRESSED};
use crate::cachekey::CacheKey;
use crate::local::{Chain, Layer};

/// Descriptor annotation older BuildKit versions date cache layers with.
const ANNOTATION_CREATED_AT: &str = "buildkit/createdat";

/// Unix seconds of an RFC 3339 time; Go's zero time (year 1, what BuildKit writes for an
/// unknown time) is no time.
fn seconds(t: Option<&str>) -> Option<i64> {
    t.and_then(kiln_cache::image::time::parse_rfc3339)
        .filter(|&s| s > 0)
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
        let created = seconds(ann.created_at.as_deref()).or_else(|| {
            seconds(
                desc.annotations
                    .get(ANNOTATION_CREATED_AT)
                    .map(String::as_str),
            )
        });
        layers.push((
            Layer {
                diff_id,
                blob: l.blob.clone(),
                size: desc.size,
                media_type,
                created,
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
            if let Some(top) = chain.last_mut() {
                top.created = top
                    .created
                    .or_else(|| seconds(result.created_at.as_deref()));
            }
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
