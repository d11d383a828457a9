//! The build's footprint in the store besides images: opening it by an absolute path, the
//! lease that keeps a running build's blobs from GC, and the record of what each step's
//! cache key was computed from.

use std::sync::Arc;

use anyhow::Context;
use kiln_cache::Store;

use crate::cli::GlobalArgs;

/// A lease for one build, deleted on drop.
pub struct BuildLease {
    store: Arc<Store>,
    pub lease: kiln_cache::lease::Lease,
}

impl BuildLease {
    pub fn new(store: Arc<Store>) -> anyhow::Result<BuildLease> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let id = format!("build-{}-{nanos}", std::process::id());
        let ttl = std::time::Duration::from_secs(24 * 3600);
        let lease = store
            .create_lease(&id, Some(ttl))
            .context("creating the build's lease in the store")?;
        Ok(BuildLease { store, lease })
    }
}

impl Drop for BuildLease {
    fn drop(&mut self) {
        if let Err(e) = self.store.delete_lease(&self.lease) {
            tracing::warn!("deleting the build lease {}: {e}", self.lease.id);
        }
    }
}

/// The store, by an absolute path: the container helper and overlay mounts work from
/// other directories than ours.
pub fn open_store_absolute(global: &GlobalArgs) -> anyhow::Result<Store> {
    let root = std::path::absolute(&global.root)
        .with_context(|| format!("resolving the store path {}", global.root.display()))?;
    Store::open(&root).with_context(|| {
        format!(
            "opening kiln's store at {} (set --root or KILN_ROOT)",
            root.display()
        )
    })
}

/// Keep what each step's cache key was computed from (op, input keys, content checksum),
/// by key, so a later miss can be explained against it. Best effort: a failure to write
/// only loses that explanation.
pub fn record_keys(store: &Store, keys: &[kiln_solver::KeyRecord]) {
    let dir = store.root().join("build-state/keys");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        tracing::warn!("creating {}: {e}", dir.display());
        return;
    }
    for k in keys {
        let hex = k.key.as_str().trim_start_matches("sha256:");
        let path = dir.join(format!("{hex}.json"));
        if path.exists() {
            continue;
        }
        let written = serde_json::to_vec(k)
            .map_err(std::io::Error::other)
            .and_then(|b| std::fs::write(&path, b));
        if let Err(e) = written {
            tracing::warn!("recording the cache key {}: {e}", k.key);
        }
    }
}
