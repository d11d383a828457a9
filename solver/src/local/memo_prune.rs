//! Pruning the build's memo files under `build-state/`: the last download of each `ADD
//! <url>` (`http/`, for ETag revalidation) and each converted output layer
//! (`converted-layers/`, compression or SOURCE_DATE_EPOCH applied). Both are pure caches
//! that name a layer blob and are ignored once that blob is gone, so a memo whose blob GC
//! took (or that no longer parses) is dead weight; a full prune drops them all, as it
//! drops the rest of the build cache.
//!
//! API: [`prune_memos`], [`PrunedMemos`], [`MemoPruneError`].

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use kiln_cache::{Digest, Store};

/// `ADD <url>` memos (see `http.rs`).
pub(crate) const HTTP_MEMOS: &str = "build-state/http";
/// Converted-layer memos (see `convert.rs`).
pub(crate) const CONVERTED_MEMOS: &str = "build-state/converted-layers";

/// A writer's temp file older than this belongs to a process that died mid-write.
const STALE_TEMP: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum MemoPruneError {
    #[error("pruning build memos: {op} {path}: {source}; check the store's permissions")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// What [`prune_memos`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrunedMemos {
    pub files: usize,
    pub bytes: u64,
}

/// Remove the memos whose layer blob is no longer in the store (and unreadable ones and
/// dead writers' temp files); with `all`, every memo.
pub fn prune_memos(store: &Store, all: bool) -> Result<PrunedMemos, MemoPruneError> {
    let mut pruned = PrunedMemos::default();
    for rel in [HTTP_MEMOS, CONVERTED_MEMOS] {
        let dir = store.root().join(rel);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(source) => return Err(io_err("list", &dir, source)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| io_err("list", &dir, e))?;
            let path = entry.path();
            let Ok(meta) = entry.metadata() else {
                continue; // removed meanwhile
            };
            if !meta.is_file() || !should_go(store, &path, &meta, all) {
                continue;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    tracing::debug!(path = %path.display(), "removed a build memo");
                    pruned.files += 1;
                    pruned.bytes += meta.len();
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => return Err(io_err("remove", &path, source)),
            }
        }
    }
    if pruned.files > 0 {
        tracing::info!(
            files = pruned.files,
            bytes = pruned.bytes,
            "pruned build memos"
        );
    }
    Ok(pruned)
}

fn should_go(store: &Store, path: &Path, meta: &std::fs::Metadata, all: bool) -> bool {
    if path.extension() != Some(std::ffi::OsStr::new("json")) {
        // A temp file a memo is written through before its rename: only a dead writer's.
        let age = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok());
        return age.is_some_and(|a| a > STALE_TEMP);
    }
    if all {
        return true;
    }
    match memo_blob(path) {
        Some(blob) => !store.content().exists(&blob),
        // Unreadable: the readers treat it as absent, so it only takes space.
        None => true,
    }
}

/// The layer blob a memo names: `layer.blob` in a download memo, `blob` in a converted
/// layer's.
fn memo_blob(path: &Path) -> Option<Digest> {
    let bytes = std::fs::read(path).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let blob = v.get("layer").unwrap_or(&v).get("blob")?.as_str()?;
    Digest::parse(blob).ok()
}

fn io_err(op: &'static str, path: &Path, source: io::Error) -> MemoPruneError {
    MemoPruneError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memo(store: &Store, rel: &str, name: &str, doc: serde_json::Value) -> PathBuf {
        let dir = store.root().join(rel);
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, doc.to_string()).unwrap();
        p
    }

    #[test]
    fn memos_of_gone_blobs_go_and_a_full_prune_takes_all() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let kept = store.content().put_bytes(b"layer").unwrap().digest;
        let gone = Digest::of_bytes(b"collected");
        let layer = |d: &Digest| serde_json::json!({"blob": d.to_string(), "size": 5});
        let http_kept = memo(
            &store,
            HTTP_MEMOS,
            "a.json",
            serde_json::json!({"etag": "\"1\"", "layer": layer(&kept)}),
        );
        let http_gone = memo(
            &store,
            HTTP_MEMOS,
            "b.json",
            serde_json::json!({"etag": "\"2\"", "layer": layer(&gone)}),
        );
        let conv_kept = memo(&store, CONVERTED_MEMOS, "c.json", layer(&kept));
        let conv_gone = memo(&store, CONVERTED_MEMOS, "d.json", layer(&gone));
        let broken = memo(&store, CONVERTED_MEMOS, "e.json", serde_json::json!("x"));
        // A live writer's temp file stays; a dead one's would be over an hour old.
        let temp = memo(&store, HTTP_MEMOS, ".tmpABC", serde_json::json!({}));

        let first = prune_memos(&store, false).unwrap();
        assert_eq!(first.files, 3);
        assert!(first.bytes > 0);
        for p in [&http_gone, &conv_gone, &broken] {
            assert!(!p.exists(), "{} kept", p.display());
        }
        for p in [&http_kept, &conv_kept, &temp] {
            assert!(p.exists(), "{} removed", p.display());
        }
        assert_eq!(prune_memos(&store, false).unwrap(), PrunedMemos::default());

        assert_eq!(prune_memos(&store, true).unwrap().files, 2);
        assert!(!http_kept.exists() && !conv_kept.exists());
        assert!(temp.exists());
    }

    #[test]
    fn a_store_without_memos_prunes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        assert_eq!(prune_memos(&store, true).unwrap(), PrunedMemos::default());
    }
}
