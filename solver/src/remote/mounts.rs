//! `RUN --mount=type=cache` contents in a remote cache (opt-in, `cache-mounts=true`): each
//! cache mount directory travels as one layer, recorded under a key no step key can take
//! (`kiln.cache-mount:<id digest>`), so tools that do not know them just see an unused
//! record. Imported only into cache mounts that do not exist yet: local state wins.

use std::path::{Path, PathBuf};

use kiln_cache::layer::{
    apply_layer_blob, diff::tree_entries, write_layer, ApplyMode, ApplyOptions, Compression,
    TarOptions,
};
use kiln_cache::{Digest, Store};
use nix::fcntl::{Flock, FlockArg};

use super::format::CacheEntry;
use super::{ImportedCache, RemoteError};
use crate::cachekey::CacheKey;
use crate::local::{Chain, Layer};

/// Record keys of cache mounts start with this.
pub const MOUNT_KEY_PREFIX: &str = "kiln.cache-mount:";

/// Where the worker keeps the cache mount `id` (the name `RUN` steps bind).
pub fn mount_dir(store: &Store, id: &str) -> PathBuf {
    store
        .root()
        .join("cache-mounts")
        .join(Digest::of_bytes(id.as_bytes()).hex())
}

fn store_err(cache: &str) -> impl Fn(kiln_cache::StoreError) -> RemoteError + '_ {
    move |source| RemoteError::Store {
        cache: cache.to_string(),
        source,
    }
}

/// One entry per existing cache mount of `ids`, its directory written as a layer.
pub fn export_entries(
    store: &Store,
    cache: &str,
    ids: &[String],
) -> Result<Vec<CacheEntry>, RemoteError> {
    let mut out = Vec::new();
    for id in ids {
        let dir = mount_dir(store, id);
        if !dir.is_dir() {
            continue;
        }
        let entries = tree_entries(&dir).map_err(|e| RemoteError::Unusable {
            cache: cache.to_string(),
            detail: format!("reading cache mount {id:?} at {}: {e}", dir.display()),
        })?;
        let blob = write_layer(
            store.content(),
            &entries,
            TarOptions::default(),
            Compression::Gzip,
        )
        .map_err(|e| store_err(cache)(e.into()))?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push(CacheEntry {
            key: CacheKey::from_stored(format!("{MOUNT_KEY_PREFIX}{name}")),
            inputs: Vec::new(),
            chain: Chain {
                layers: vec![Layer {
                    diff_id: blob.diff_id,
                    blob: blob.digest,
                    size: blob.size,
                    media_type: blob.media_type,
                    created: None,
                }],
            },
        });
    }
    Ok(out)
}

/// Unpack the cache's cache-mount records into mounts of this store that do not exist;
/// returns how many were restored.
pub async fn import(store: &Store, cache: &ImportedCache) -> Result<usize, RemoteError> {
    let mut restored = 0;
    let root = store.root().join("cache-mounts");
    for key in cache
        .keys()
        .filter(|k| k.as_str().starts_with(MOUNT_KEY_PREFIX))
    {
        let name = &key.as_str()[MOUNT_KEY_PREFIX.len()..];
        if Digest::from_hex(name).is_err() || root.join(format!("{name}.ready")).exists() {
            continue;
        }
        let Some(chain) = cache.materialize(store, key, None).await? else {
            continue;
        };
        if crate::local::blocking(|| apply(store, cache.name(), &chain, &root, name))? {
            restored += 1;
        }
    }
    Ok(restored)
}

/// Unpack `chain` as cache mount `name` under `root` unless it exists, under the mount's
/// lock (the one RUN steps take, see `local::cache_mount`): unpacked into a temp directory,
/// renamed, then marked ready, so a step never sees half of it.
fn apply(
    store: &Store,
    cache: &str,
    chain: &Chain,
    root: &Path,
    name: &str,
) -> Result<bool, RemoteError> {
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| RemoteError::Io {
            cache: cache.to_string(),
            op,
            path,
            source,
        }
    };
    std::fs::create_dir_all(root).map_err(io("creating", root))?;
    let lock_path = root.join(format!("{name}.lock"));
    let file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io("opening", &lock_path))?;
    let _lock = Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, errno)| io("locking", &lock_path)(errno.into()))?;
    let dest = root.join(name);
    let ready = root.join(format!("{name}.ready"));
    if ready.exists() || dest.exists() {
        return Ok(false);
    }
    let tmp = tempfile::Builder::new()
        .prefix(".import-")
        .tempdir_in(root)
        .map_err(io("creating a temp dir in", root))?;
    let opts = ApplyOptions {
        mode: ApplyMode::Merge,
        allow_devices: false,
    };
    for l in &chain.layers {
        apply_layer_blob(store.content(), &l.blob, Some(&l.diff_id), tmp.path(), opts)
            .map_err(|e| store_err(cache)(e.into()))?;
    }
    let path = tmp.keep();
    std::fs::rename(&path, &dest).map_err(io("renaming into place", &dest))?;
    std::fs::File::create(&ready).map_err(io("creating", &ready))?;
    Ok(true)
}
