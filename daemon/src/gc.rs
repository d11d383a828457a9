//! The periodic GC: every `gc.interval`, prune build cache by the config's keep-storage
//! and keep-duration (cache that images use is kept), then collect unreferenced blobs and
//! snapshots. Running builds are safe: what they wrote or loaded is leased.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use kiln_cache::gc::{PruneOptions, PruneReport};
use kiln_cache::{Store, StoreError};
use tokio_util::sync::CancellationToken;

use crate::backend::BuildBackend;
use crate::config::GcPolicy;
use crate::server::Shared;

/// Apply `policy` once. The two limits are separate rules, as in BuildKit's GC policy:
/// cache unused for longer than keep-duration goes, and then the least recently used
/// cache beyond keep-storage.
pub fn apply(store: &Store, policy: &GcPolicy) -> Result<PruneReport, StoreError> {
    let mut report = PruneReport::default();
    let passes = [
        policy.keep_duration.map(|d| PruneOptions {
            all: false,
            until: Some(d),
            keep_storage: None,
        }),
        policy.keep_storage.map(|n| PruneOptions {
            all: false,
            until: None,
            keep_storage: Some(n),
        }),
    ];
    for opts in passes.into_iter().flatten() {
        let r = store.prune_build_cache(&opts)?;
        report.cache_records.extend(r.cache_records);
        report.gc.reclaimed += r.gc.reclaimed;
        report.gc.blobs_removed.extend(r.gc.blobs_removed);
        report.gc.snapshots_removed.extend(r.gc.snapshots_removed);
        report.gc.temp_removed.extend(r.gc.temp_removed);
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
