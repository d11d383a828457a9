//! Cache keys: what a step's result is looked up by.
//!
//! key(v) = sha256("kiln-cache-v1" ‖ digest of v's op without inputs ‖ key of each input ‖
//! v's content key). Input *keys* rather than input digests, so a base image re-tagged to
//! the same manifest hits, and content keys so an edited context file misses while an
//! unrelated edit does not. The record of what went in is kept so a miss can be explained.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use kiln_frontend::graph::{Digest, Op, Source, Vertex};

/// A `sha256:<hex>` cache key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CacheKey(String);

impl CacheKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wrap a key read back from storage.
    pub fn from_stored(s: impl Into<String>) -> CacheKey {
        CacheKey(s.into())
    }
}

impl std::fmt::Display for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Everything a vertex's cache key was computed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub vertex: Digest,
    pub key: CacheKey,
    /// Digest of the op definition alone.
    pub op: Digest,
    pub inputs: Vec<CacheKey>,
    /// The worker's content part (manifest digest, file checksums), if any.
    pub content: Option<String>,
}

impl KeyRecord {
    pub fn compute(
        vertex: Digest,
        op: Digest,
        inputs: Vec<CacheKey>,
        content: Option<String>,
    ) -> KeyRecord {
        let mut h = Sha256::new();
        h.update(b"kiln-cache-v1\0");
        h.update(op.as_str().as_bytes());
        h.update(b"\0");
        for input in &inputs {
            h.update(input.as_str().as_bytes());
            h.update(b"\0");
        }
        // Distinguish "no content part" from an empty one.
        match &content {
            Some(c) => {
                h.update(b"c");
                h.update(c.as_bytes());
            }
            None => h.update(b"n"),
        }
        let key = CacheKey(format!("sha256:{}", hex::encode(h.finalize())));
        KeyRecord {
            vertex,
            key,
            op,
            inputs,
            content,
        }
    }
}

/// The op part of a cache key. An image source that the worker pinned to a manifest digest
/// is keyed by that digest and its platform alone, not by its name, so a re-tagged or
/// differently spelled reference to the same image hits the cache.
pub(crate) fn key_op_digest(v: &Vertex, content: &Option<String>) -> Digest {
    match (&v.op, content) {
        (Op::Source(Source::Image { platform, .. }), Some(_)) => {
            Digest::of_json(&Op::Source(Source::Image {
                reference: String::new(),
                platform: platform.clone(),
            }))
        }
        _ => v.op_digest(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Digest {
        Digest::of_bytes(s.as_bytes())
    }

    #[test]
    fn key_depends_on_each_part() {
        let base = KeyRecord::compute(d("v"), d("op"), vec![], None);
        let other_op = KeyRecord::compute(d("v"), d("op2"), vec![], None);
        let with_input = KeyRecord::compute(d("v"), d("op"), vec![base.key.clone()], None);
        let with_content = KeyRecord::compute(d("v"), d("op"), vec![], Some(String::new()));
        let other_vertex = KeyRecord::compute(d("w"), d("op"), vec![], None);
        assert_ne!(base.key, other_op.key);
        assert_ne!(base.key, with_input.key);
        assert_ne!(base.key, with_content.key);
        // The vertex digest is not part of the key: equal work, equal key.
        assert_eq!(base.key, other_vertex.key);
    }
}
