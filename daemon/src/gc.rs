//! The periodic GC: every `gc.interval`, apply the config's policy per type — build cache
//! by age and by real disk use (`gc_usage`), dangling images by age, cache mounts by size —
//! then collect unreferenced blobs and snapshots. Running builds are safe: what they wrote
//! or loaded is leased, and cache mounts a step holds are locked.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use kiln_cache::gc::{GcReport, PruneReport};
use kiln_cache::{Store, StoreError};
use tokio_util::sync::CancellationToken;

use crate::backend::BuildBackend;
use crate::config::GcPolicy;
use crate::gc_usage::CacheUsage;
use crate::server::Shared;

/// Rounds of "remove, collect, measure again" for keep-storage: removing a record whose
/// snapshot a kept record's snapshot builds on frees less than planned.
const STORAGE_ROUNDS: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("removing cache mounts under {path}: {source}")]
    CacheMounts {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Memos(#[from] kiln_solver::local::MemoPruneError),
}

fn merge(into: &mut GcReport, r: GcReport) {
    into.reclaimed += r.reclaimed;
    into.blobs_removed.extend(r.blobs_removed);
    into.snapshots_removed.extend(r.snapshots_removed);
    into.temp_removed.extend(r.temp_removed);
}

/// Apply `policy` once. Each limit is its own rule, as in BuildKit's GC policies.
pub fn apply(store: &Store, policy: &GcPolicy) -> Result<PruneReport, GcError> {
    let mut report = PruneReport::default();
    let now = kiln_cache::db::now();
    if let Some(age) = policy.images_keep_duration {
        let cutoff = now.saturating_sub(age.as_secs() as i64);
        for img in store.list_images()? {
            let dangling = img.names.is_empty() && img.added < cutoff;
            if dangling && store.image_holders(&img)?.is_empty() {
                store.remove_image_with_tags(&img.manifest_digest)?;
                tracing::info!(image = %img.config_digest, "GC: removed a dangling image");
                report.images.push(img);
            }
        }
    }
    if policy.keep_duration.is_some() || policy.keep_storage.is_some() {
        for round in 0..STORAGE_ROUNDS {
            // Age applies once; size until the real use fits (or nothing more can go).
            let keep_duration = policy.keep_duration.filter(|_| round == 0);
            let usage = CacheUsage::measure(store)?;
            let remove = usage.plan(now, keep_duration, policy.keep_storage);
            tracing::info!(
                bytes = usage.total(),
                remove = remove.len(),
                "GC: build cache measured"
            );
            if remove.is_empty() {
                break;
            }
            store.delete_cache_records(&remove)?;
            report.cache_records.extend(remove);
            merge(&mut report.gc, store.collect_garbage()?);
        }
    }
    if !report.images.is_empty() && report.cache_records.is_empty() {
        merge(&mut report.gc, store.collect_garbage()?);
    }
    if !report.gc.blobs_removed.is_empty() {
        // Download and converted-layer memos naming the blobs just collected are dead.
        let memos = kiln_solver::local::prune_memos(store, false)?;
        report.gc.reclaimed += memos.bytes;
    }
    if let Some(keep) = policy.cache_mounts_keep_storage {
        let dir = store.root().join("cache-mounts");
        let used = kiln_cache::disk_usage(&dir).unwrap_or(0);
        if used > keep {
            // The store keeps no last use per cache mount: all that no step holds go.
            let gone = kiln_solver::local::prune_cache_mounts(store.root()).map_err(|source| {
                GcError::CacheMounts {
                    path: dir.display().to_string(),
                    source,
                }
            })?;
            for m in gone {
                tracing::info!(id = %m.id, bytes = m.bytes, "GC: removed a cache mount");
                report.gc.reclaimed += m.bytes;
            }
        }
    }
    Ok(report)
}

pub(crate) async fn run_loop<B: BuildBackend>(s: Arc<Shared<B>>, stop: CancellationToken) {
    loop {
        let policy = s.config().gc;
        tokio::select! {
            _ = tokio::time::sleep(policy.interval) => {}
            // A reload restarts the wait with the new interval.
            _ = s.reloaded.notified() => continue,
            _ = stop.cancelled() => return,
        }
        if !policy.is_active() {
            continue;
        }
        let store = s.store.clone();
        let result = tokio::task::spawn_blocking(move || apply(&store, &policy)).await;
        match result {
            Ok(Ok(report)) => {
                s.metrics.gc_runs.fetch_add(1, Ordering::Relaxed);
                s.metrics
                    .gc_reclaimed_bytes
                    .fetch_add(report.gc.reclaimed, Ordering::Relaxed);
                tracing::info!(
                    records = report.cache_records.len(),
                    reclaimed = report.gc.reclaimed,
                    "applied the GC policy"
                );
            }
            Ok(Err(e)) => tracing::error!("applying the GC policy: {e}"),
            Err(e) => tracing::error!("applying the GC policy: {e}"),
        }
    }
}
