//! Garbage collection and pruning: what is live (images, containers' snapshot references,
//! unexpired leases, kept cache records), removing the rest, and disk usage accounting.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use rusqlite::params;
use tracing::{info, warn};

use crate::db::{now, DbError};
use crate::digest::Digest;
use crate::fsutil;
use crate::image::records::ImageRecord;
use crate::image::spec::chain_ids;
use crate::store::{io_err, Store, StoreError};

#[derive(Debug, Clone, Default)]
pub struct PruneOptions {
    /// Remove every cache record (or, for images, every image no container uses), not only
    /// unused/dangling ones.
    pub all: bool,
    /// Only what was last used longer ago than this.
    pub until: Option<Duration>,
    /// Keep the most recently used cache up to this many bytes.
    pub keep_storage: Option<u64>,
}

#[derive(Debug, Clone, Default)]
pub struct GcReport {
    pub blobs_removed: Vec<Digest>,
    pub snapshots_removed: Vec<String>,
    pub temp_removed: Vec<String>,
    pub reclaimed: u64,
}

#[derive(Debug, Clone, Default)]
pub struct PruneReport {
    pub cache_records: Vec<String>,
    pub images: Vec<ImageRecord>,
    pub gc: GcReport,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Live {
    pub blobs: HashSet<Digest>,
    pub snapshots: HashSet<String>,
    /// Snapshots that images use (the rest of `snapshots` are kept by records/holders/leases).
    pub image_snapshots: HashSet<String>,
}

fn strings(
    tx: &rusqlite::Transaction<'_>,
    sql: &str,
    p: impl rusqlite::Params,
) -> Result<Vec<String>, StoreError> {
    let mut st = tx.prepare(sql).map_err(DbError::from)?;
    let v = st
        .query_map(p, |r| r.get(0))
        .map_err(DbError::from)?
        .collect::<Result<Vec<String>, _>>()
        .map_err(DbError::from)?;
    Ok(v)
}

impl Store {
    pub(crate) fn live_set(&self) -> Result<Live, StoreError> {
        let t = now();
        let (image_blobs, configs, other_blobs, held, parents) = self.db().read(|tx| {
            let image_blobs = strings(tx, "SELECT DISTINCT blob_digest FROM image_blobs", [])?;
            let configs = strings(tx, "SELECT DISTINCT config_digest FROM images", [])?;
            let mut other = strings(tx, "SELECT blob_digest FROM cache_records WHERE blob_digest IS NOT NULL", [])?;
            other.extend(strings(tx, "SELECT DISTINCT blob_digest FROM cache_record_blobs", [])?);
            let alive = "SELECT resource FROM lease_resources r JOIN leases l ON l.id = r.lease_id WHERE r.kind = ?1 AND (l.expires IS NULL OR l.expires > ?2)";
            other.extend(strings(tx, alive, params!["blob", t])?);
            let mut held = strings(tx, "SELECT snapshot_id FROM snapshot_refs", [])?;
            held.extend(strings(tx, "SELECT snapshot_id FROM cache_records WHERE snapshot_id IS NOT NULL", [])?);
            held.extend(strings(tx, alive, params!["snapshot", t])?);
            let mut st = tx.prepare("SELECT id, parent FROM snapshots WHERE parent IS NOT NULL").map_err(DbError::from)?;
            let parents = st
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(DbError::from)?
                .collect::<Result<std::collections::HashMap<_, _>, _>>()
                .map_err(DbError::from)?;
            Ok::<_, StoreError>((image_blobs, configs, other, held, parents))
        })?;
        let mut live = Live::default();
        live.blobs.extend(
            image_blobs
                .iter()
                .chain(&other_blobs)
                .filter_map(|s| Digest::parse(s).ok()),
        );
        for c in configs.iter().filter_map(|s| Digest::parse(s).ok()) {
            match self.read_config(&c) {
                Ok(cfg) => {
                    for chain in chain_ids(&cfg.rootfs.diff_ids) {
                        live.image_snapshots.insert(chain.to_string());
                        live.image_snapshots.insert(format!("flat:{chain}"));
                    }
                }
                Err(e) => {
                    warn!(config = %c, error = %e, "cannot read image config; its snapshots are not protected (run `kiln system check`)")
                }
            }
        }
        live.snapshots.extend(live.image_snapshots.iter().cloned());
        for mut id in held {
            // A held snapshot needs its whole parent chain as lowerdirs.
            while live.snapshots.insert(id.clone()) {
                match parents.get(&id) {
                    Some(p) => id = p.clone(),
                    None => break,
                }
            }
        }
        Ok(live)
    }

    /// Remove every blob and snapshot nothing references, and stale temp files.
    pub fn collect_garbage(&self) -> Result<GcReport, StoreError> {
        let _gc = self.gc_guard()?;
        self.collect_garbage_locked()
    }

    pub(crate) fn collect_garbage_locked(&self) -> Result<GcReport, StoreError> {
        let live = self.live_set()?;
        let mut report = GcReport::default();
        // Snapshot rows first (one transaction), then their directories: a crash in between
        // leaves orphan directories, which are garbage, never rows without directories.
        let dead: Vec<String> = self
            .db()
            .read(|tx| strings(tx, "SELECT id FROM snapshots", []))?
            .into_iter()
            .filter(|id| !live.snapshots.contains(id))
            .collect();
        self.forget_snapshots(&dead)?;
        let rows: HashSet<String> = self
            .db()
            .read(|tx| strings(tx, "SELECT id FROM snapshots", []))?
            .into_iter()
            .collect();
        let known: HashSet<std::path::PathBuf> =
            rows.iter().map(|id| self.snapshot_path(id)).collect();
        let sdir = self.snapshots_dir();
        for e in fs::read_dir(&sdir).map_err(io_err("list", &sdir))? {
            let e = e.map_err(io_err("list", &sdir))?;
            let p = e.path();
            if known.contains(&p) {
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("tmp-") && fsutil::is_locked(&p.join("lock")).unwrap_or(false) {
                continue; // a live writer's temp snapshot
            }
            report.reclaimed += fsutil::disk_usage(&p).unwrap_or(0);
            fs::remove_dir_all(&p).map_err(io_err("remove", &p))?;
            if name.starts_with("tmp-") {
                report.temp_removed.push(p.display().to_string());
            } else {
                report.snapshots_removed.push(name);
            }
        }
        let (blobs, _) = self.content().list()?;
        let dead_blobs: Vec<Digest> = blobs
            .into_iter()
            .filter(|b| !live.blobs.contains(b))
            .collect();
        self.db().write(|tx| {
            for b in &dead_blobs {
                tx.execute(
                    "DELETE FROM layer_blobs WHERE blob_digest = ?1",
                    [b.to_string()],
                )
                .map_err(DbError::from)?;
            }
            Ok::<_, StoreError>(())
        })?;
        for b in dead_blobs {
            report.reclaimed += fs::symlink_metadata(self.content().path(&b))
                .map(|m| m.blocks() * 512)
                .unwrap_or(0);
            self.content().delete(&b)?;
            report.blobs_removed.push(b);
        }
        let ing = self.content().ingest_dir().to_path_buf();
        for e in fs::read_dir(&ing).map_err(io_err("list", &ing))? {
            let p = e.map_err(io_err("list", &ing))?.path();
            if fsutil::is_locked(&p).unwrap_or(true) {
                continue;
            }
            report.reclaimed += fs::symlink_metadata(&p)
                .map(|m| m.blocks() * 512)
                .unwrap_or(0);
            let _ = fs::remove_file(&p);
            report.temp_removed.push(p.display().to_string());
        }
        info!(
            blobs = report.blobs_removed.len(),
            snapshots = report.snapshots_removed.len(),
            reclaimed = report.reclaimed,
            "garbage collected"
        );
        Ok(report)
    }

    /// `kiln prune`: drop build cache records by policy, then collect garbage.
    pub fn prune_build_cache(&self, opts: &PruneOptions) -> Result<PruneReport, StoreError> {
        let live = self.live_set()?;
        let records = self.list_cache_records()?;
        let cutoff = opts.until.map(|d| now() - d.as_secs() as i64);
        let mut total: u64 = records.iter().map(|r| r.size).sum();
        let mut remove = Vec::new();
        // Oldest first (list order), so keep-storage keeps the most recently used.
        for r in &records {
            if let Some(keep) = opts.keep_storage {
                if total <= keep {
                    break;
                }
            }
            let in_use = r
                .snapshot_id
                .as_ref()
                .is_some_and(|s| live.image_snapshots.contains(s));
            let old_enough = cutoff.is_none_or(|c| r.last_used < c);
            if old_enough && (opts.all || !in_use) {
                total = total.saturating_sub(r.size);
                remove.push(r.key.clone());
            }
        }
        self.delete_cache_records(&remove)?;
        let gc = self.collect_garbage()?;
        Ok(PruneReport {
            cache_records: remove,
            images: Vec::new(),
            gc,
        })
    }

    /// `kiln system prune`: dangling images (all unused ones with `all`), build cache, garbage.
    pub fn prune_system(&self, opts: &PruneOptions) -> Result<PruneReport, StoreError> {
        let cutoff = opts.until.map(|d| now() - d.as_secs() as i64);
        let mut removed = Vec::new();
        for img in self.list_images()? {
            let eligible =
                (opts.all || img.names.is_empty()) && cutoff.is_none_or(|c| img.added < c);
            if !eligible
                || !self
                    .image_holders(&img)
                    .map(|h| h.is_empty())
                    .unwrap_or(true)
            {
                continue;
            }
            self.remove_image_with_tags(&img.manifest_digest)?;
            removed.push(img);
        }
        let mut report = self.prune_build_cache(opts)?;
        report.images = removed;
        Ok(report)
    }
}
