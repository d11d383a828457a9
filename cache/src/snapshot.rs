//! Snapshots: unpacked layers keyed by chain id under `snapshots/<hex>/fs`, each holding one
//! layer in overlayfs form, stacked as lowerdirs. Shared by every image and container that
//! uses them; references are rows in `snapshot_refs` (containers, builds), plus the images
//! whose chains include them. Chains too deep for one overlay mount get their lower part
//! flattened into one `flat-<hex>` snapshot.

use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::{params, OptionalExtension};
use tracing::{debug, info};

use crate::db::{now, DbError};
use crate::digest::Digest;
use crate::fsutil;
use crate::image::records::ImageRecord;
use crate::image::spec::chain_ids;
use crate::layer::{apply_layer_blob, ApplyMode, ApplyOptions};
use crate::store::{io_err, Store, StoreError};

/// Most lowerdirs kiln stacks in one mount (the kernel allows 500, but the mount data must
/// fit one page with upper/work dirs too).
pub const MAX_LOWERDIRS: usize = 64;
/// Bytes of `lowerdir=` data kiln allows itself, leaving room in the 4 KiB page.
pub const MAX_LOWERDIR_BYTES: usize = 2048;
/// Granularity of flattened chain bottoms (see `chain_lowerdirs_with_limits`).
const FLAT_STEP: usize = 8;

/// Snapshot ids: `sha256:<chain>` for a layer, `flat:sha256:<chain>` for a flattened chain.
fn flat_id(chain: &Digest) -> String {
    format!("flat:{chain}")
}

impl Store {
    /// Directory of a snapshot id (`sha256:…` or `flat:sha256:…`); the lowerdir is its `fs/`.
    pub fn snapshot_path(&self, id: &str) -> PathBuf {
        let name = match id.strip_prefix("flat:") {
            Some(chain) => format!("flat-{}", chain.trim_start_matches("sha256:")),
            None => id.trim_start_matches("sha256:").to_string(),
        };
        self.snapshots_dir().join(name)
    }

    fn snapshot_exists(&self, id: &str) -> Result<bool, StoreError> {
        let row: Option<String> = self.db().read(|tx| {
            tx.query_row("SELECT id FROM snapshots WHERE id = ?1", [id], |r| r.get(0))
                .optional()
                .map_err(DbError::from)
        })?;
        Ok(row.is_some() && self.snapshot_path(id).join("fs").is_dir())
    }

    /// Build a snapshot in a locked temp dir, sync it, rename it into place, then record it.
    /// Concurrent creators of the same id both succeed; the loser discards its copy.
    fn create_snapshot(
        &self,
        id: &str,
        parent: Option<&str>,
        diff_id: Option<&Digest>,
        kind: &str,
        fill: impl FnOnce(&std::path::Path) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let _w = self.write_guard()?;
        let tmp = tempfile::Builder::new()
            .prefix("tmp-")
            .tempdir_in(self.snapshots_dir())
            .map_err(io_err("create temp snapshot in", &self.snapshots_dir()))?;
        let lock_path = tmp.path().join("lock");
        let lock_file = fs::File::create(&lock_path).map_err(io_err("create", &lock_path))?;
        let _lock = fsutil::lock_file(lock_file, true, true).map_err(io_err("lock", &lock_path))?;
        let fs_dir = tmp.path().join("fs");
        fs::create_dir(&fs_dir).map_err(io_err("create", &fs_dir))?;
        fill(&fs_dir)?;
        let size = fsutil::disk_usage(&fs_dir).map_err(io_err("measure", &fs_dir))?;
        // Make the unpacked files durable before the rename publishes them.
        let dirf = fs::File::open(&fs_dir).map_err(io_err("open", &fs_dir))?;
        nix::unistd::syncfs(std::os::fd::AsRawFd::as_raw_fd(&dirf))
            .map_err(|e| io_err("syncfs", &fs_dir)(e.into()))?;
        let dest = self.snapshot_path(id);
        let tmp_path = tmp.keep();
        match fs::rename(&tmp_path, &dest) {
            Ok(()) => {
                let _ = fs::remove_file(dest.join("lock"));
            }
            Err(_) if dest.join("fs").is_dir() => {
                debug!(id, "snapshot created concurrently; discarding ours");
                fs::remove_dir_all(&tmp_path).map_err(io_err("remove", &tmp_path))?;
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp_path);
                return Err(io_err("rename snapshot into", &dest)(e));
            }
        }
        fsutil::fsync_dir(&self.snapshots_dir()).map_err(io_err("fsync", &self.snapshots_dir()))?;
        let t = now();
        self.db().write(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO snapshots (id, parent, diff_id, kind, size, created, last_used) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                params![id, parent, diff_id.map(|d| d.to_string()), kind, size as i64, t],
            )
            .map_err(DbError::from)?;
            Ok::<_, StoreError>(())
        })?;
        info!(id, size, "snapshot created");
        Ok(())
    }

    /// Remember that `blob` (already stored) holds the layer `diff_id`, so snapshots of
    /// chains that are not images yet (build steps) can be unpacked from it.
    pub fn record_layer_blob(
        &self,
        diff_id: &Digest,
        blob: &Digest,
        media_type: &str,
    ) -> Result<(), StoreError> {
        self.record_layer_blob_leased(diff_id, blob, media_type, None)
    }

    /// [`Store::record_layer_blob`] and, in the same transaction, add the blob to `lease`.
    pub fn record_layer_blob_leased(
        &self,
        diff_id: &Digest,
        blob: &Digest,
        media_type: &str,
        lease: Option<&crate::lease::Lease>,
    ) -> Result<(), StoreError> {
        self.db().write(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO layer_blobs (diff_id, blob_digest, media_type) VALUES (?1, ?2, ?3)",
                params![diff_id.to_string(), blob.to_string(), media_type],
            )
            .map_err(DbError::from)?;
            if let Some(l) = lease {
                crate::lease::insert_lease_blobs(tx, l, [blob])?;
            }
            Ok::<_, StoreError>(())
        })
    }

    /// Create the layer snapshot `id` with `fill` unless it is already there.
    pub(crate) fn ensure_snapshot(
        &self,
        id: &str,
        parent: Option<&str>,
        diff_id: &Digest,
        fill: impl FnOnce(&std::path::Path) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        if self.snapshot_exists(id)? {
            return Ok(());
        }
        self.create_snapshot(id, parent, Some(diff_id), "layer", fill)
    }

    /// The compressed blob that holds a layer with this diff id.
    pub fn layer_blob_for(&self, diff_id: &Digest) -> Result<Digest, StoreError> {
        let rows: Vec<String> = self.db().read(|tx| {
            let mut st = tx
                .prepare("SELECT blob_digest FROM layer_blobs WHERE diff_id = ?1")
                .map_err(DbError::from)?;
            let v = st
                .query_map([diff_id.to_string()], |r| r.get(0))
                .map_err(DbError::from)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(DbError::from)?;
            Ok::<_, StoreError>(v)
        })?;
        rows.iter()
            .filter_map(|s| Digest::parse(s).ok())
            .find(|d| self.content().exists(d))
            .ok_or_else(|| StoreError::InvalidImage { manifest: diff_id.clone(), reason: format!("no stored blob holds the layer with diff id {diff_id}; pull or load the image again") })
    }

    /// Move `dir` — the top layer of the chain `diff_ids` in overlay form, such as the
    /// overlay upper dir a build step wrote it in — into the store as that chain's
    /// snapshot, so it never has to be unpacked from its blob. Returns false (and leaves
    /// `dir` alone) when the snapshot already exists. `dir` must be on the store's
    /// filesystem and its layer blob must already be recorded.
    pub fn adopt_snapshot(&self, diff_ids: &[Digest], dir: &Path) -> Result<bool, StoreError> {
        let chains = chain_ids(diff_ids);
        let (Some(top), Some(diff)) = (chains.last(), diff_ids.last()) else {
            return Ok(false);
        };
        let id = top.to_string();
        if self.snapshot_exists(&id)? {
            return Ok(false);
        }
        let parent = chains.len().checked_sub(2).map(|p| chains[p].to_string());
        self.create_snapshot(&id, parent.as_deref(), Some(diff), "layer", |fs_dir| {
            fs::remove_dir(fs_dir).map_err(io_err("remove", fs_dir))?;
            fs::rename(dir, fs_dir).map_err(io_err("move a layer directory into", fs_dir))
        })?;
        Ok(true)
    }

    /// Make sure every layer of the image is unpacked; returns its chain ids, bottom first.
    pub fn prepare_snapshots(&self, image: &ImageRecord) -> Result<Vec<Digest>, StoreError> {
        let config = self.read_config(&image.config_digest)?;
        self.prepare_chain_snapshots(&config.rootfs.diff_ids)
    }

    /// Make sure every layer of a chain (diff ids, bottom first; each with a blob known to
    /// `layer_blob_for`) is unpacked; returns its chain ids, bottom first. Builds use this
    /// for intermediate states that are not images.
    pub fn prepare_chain_snapshots(&self, diff_ids: &[Digest]) -> Result<Vec<Digest>, StoreError> {
        let chains = chain_ids(diff_ids);
        let opts = ApplyOptions {
            mode: ApplyMode::Overlay,
            allow_devices: self.allow_devices(),
        };
        for (i, (chain, diff)) in chains.iter().zip(diff_ids).enumerate() {
            let id = chain.to_string();
            if self.snapshot_exists(&id)? {
                continue;
            }
            let blob = self.layer_blob_for(diff)?;
            let parent = i.checked_sub(1).map(|p| chains[p].to_string());
            self.ensure_snapshot(&id, parent.as_deref(), diff, |dir| {
                Ok(apply_layer_blob(
                    self.content(),
                    &blob,
                    Some(diff),
                    dir,
                    opts,
                )?)
            })?;
        }
        Ok(chains)
    }

    /// Unpack only layer `index` of the chain `diff_ids` (its blob recorded with
    /// `record_layer_blob`): layer snapshots do not depend on the layers below them, so a
    /// pull unpacks each layer as soon as it has arrived, in any order. Returns its chain id.
    pub fn prepare_layer_snapshot(
        &self,
        diff_ids: &[Digest],
        index: usize,
    ) -> Result<Digest, StoreError> {
        let chains = chain_ids(diff_ids);
        let (Some(chain), Some(diff)) = (chains.get(index), diff_ids.get(index)) else {
            return Err(StoreError::InvalidImage {
                manifest: diff_ids
                    .last()
                    .cloned()
                    .unwrap_or_else(|| Digest::of_bytes(b"")),
                reason: format!(
                    "layer {index} of a {}-layer chain does not exist",
                    diff_ids.len()
                ),
            });
        };
        let opts = ApplyOptions {
            mode: ApplyMode::Overlay,
            allow_devices: self.allow_devices(),
        };
        let id = chain.to_string();
        let blob = self.layer_blob_for(diff)?;
        let parent = index
            .checked_sub(1)
            .and_then(|p| chains.get(p))
            .map(|c| c.to_string());
        self.ensure_snapshot(&id, parent.as_deref(), diff, |dir| {
            Ok(apply_layer_blob(
                self.content(),
                &blob,
                Some(diff),
                dir,
                opts,
            )?)
        })?;
        Ok(chain.clone())
    }

    /// Overlayfs lowerdirs for the image, top layer first (the order `lowerdir=` wants).
    /// Unpacks missing layers; flattens the bottom of chains deeper than one mount allows.
    /// An image without layers has no lowerdirs (use an empty dir).
    pub fn image_lowerdirs(&self, image: &ImageRecord) -> Result<Vec<PathBuf>, StoreError> {
        self.lowerdirs_with_limits(image, MAX_LOWERDIRS, MAX_LOWERDIR_BYTES)
    }

    pub fn lowerdirs_with_limits(
        &self,
        image: &ImageRecord,
        max_dirs: usize,
        max_bytes: usize,
    ) -> Result<Vec<PathBuf>, StoreError> {
        let config = self.read_config(&image.config_digest)?;
        self.chain_lowerdirs_with_limits(&config.rootfs.diff_ids, max_dirs, max_bytes)
    }

    /// [`Store::image_lowerdirs`] for a chain of diff ids (bottom first) that is not an image.
    pub fn chain_lowerdirs(&self, diff_ids: &[Digest]) -> Result<Vec<PathBuf>, StoreError> {
        self.chain_lowerdirs_with_limits(diff_ids, MAX_LOWERDIRS, MAX_LOWERDIR_BYTES)
    }

    fn chain_lowerdirs_with_limits(
        &self,
        diff_ids: &[Digest],
        max_dirs: usize,
        max_bytes: usize,
    ) -> Result<Vec<PathBuf>, StoreError> {
        let chains = self.prepare_chain_snapshots(diff_ids)?;
        let dirs: Vec<PathBuf> = chains
            .iter()
            .map(|c| self.snapshot_path(&c.to_string()).join("fs"))
            .collect();
        let fits = |ds: &[PathBuf]| {
            ds.len() <= max_dirs
                && ds.iter().map(|d| d.as_os_str().len() + 1).sum::<usize>() <= max_bytes
        };
        if fits(&dirs) {
            self.touch_snapshots(&chains)?;
            return Ok(dirs.into_iter().rev().collect());
        }
        // Keep as many top layers separate as fit beside one flattened dir for the rest.
        let flat_len = self
            .snapshot_path(&flat_id(&chains[0]))
            .join("fs")
            .as_os_str()
            .len()
            + 1;
        let mut keep = 0;
        let mut bytes = flat_len;
        while keep + 1 < dirs.len() && keep + 2 <= max_dirs {
            let add = dirs[dirs.len() - 1 - keep].as_os_str().len() + 1;
            if bytes + add > max_bytes {
                break;
            }
            bytes += add;
            keep += 1;
        }
        // When more than FLAT_STEP layers fit on top, round the flattened part up to a
        // multiple of FLAT_STEP: a build adding one layer per step then reuses one flat
        // snapshot for FLAT_STEP steps instead of flattening the whole chain every step.
        let min_split = dirs.len() - keep;
        let tiered = min_split.div_ceil(FLAT_STEP) * FLAT_STEP;
        let split = if keep >= FLAT_STEP && tiered < dirs.len() {
            tiered
        } else {
            min_split
        };
        let base_chain = &chains[split - 1];
        let fid = flat_id(base_chain);
        if !self.snapshot_exists(&fid)? {
            let opts = ApplyOptions {
                mode: ApplyMode::Merge,
                allow_devices: self.allow_devices(),
            };
            let diffs = &diff_ids[..split];
            self.create_snapshot(&fid, None, None, "flat", |dir| {
                for d in diffs {
                    apply_layer_blob(self.content(), &self.layer_blob_for(d)?, Some(d), dir, opts)?;
                }
                Ok(())
            })?;
        }
        let mut out: Vec<PathBuf> = dirs[split..].iter().rev().cloned().collect();
        out.push(self.snapshot_path(&fid).join("fs"));
        self.touch_snapshots(&chains)?;
        Ok(out)
    }

    fn touch_snapshots(&self, chains: &[Digest]) -> Result<(), StoreError> {
        let t = now();
        self.db().write(|tx| {
            for c in chains {
                tx.execute(
                    "UPDATE snapshots SET last_used = ?2 WHERE id = ?1",
                    params![c.to_string(), t],
                )
                .map_err(DbError::from)?;
            }
            Ok::<_, StoreError>(())
        })
    }

    /// Drop the rows of these snapshots and the references held on them, in one transaction.
    /// Their directories are left as orphans, which GC removes.
    pub(crate) fn forget_snapshots(&self, ids: &[String]) -> Result<(), StoreError> {
        self.db().write(|tx| {
            for id in ids {
                tx.execute("DELETE FROM snapshot_refs WHERE snapshot_id = ?1", [id])
                    .map_err(DbError::from)?;
                tx.execute("DELETE FROM snapshots WHERE id = ?1", [id])
                    .map_err(DbError::from)?;
            }
            Ok::<_, StoreError>(())
        })
    }

    /// Take a reference on a snapshot for `holder` (e.g. `container:<id>`); GC keeps it and
    /// its parents until released.
    pub fn hold_snapshot(&self, id: &str, holder: &str) -> Result<(), StoreError> {
        self.db().write(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO snapshot_refs (snapshot_id, holder) VALUES (?1, ?2)",
                params![id, holder],
            )
            .map_err(DbError::from)?;
            Ok::<_, StoreError>(())
        })
    }

    pub fn release_snapshot(&self, id: &str, holder: &str) -> Result<(), StoreError> {
        self.db().write(|tx| {
            tx.execute(
                "DELETE FROM snapshot_refs WHERE snapshot_id = ?1 AND holder = ?2",
                params![id, holder],
            )
            .map_err(DbError::from)?;
            Ok::<_, StoreError>(())
        })
    }

    /// Holders of a snapshot (containers, builds).
    pub fn snapshot_holders(&self, id: &str) -> Result<Vec<String>, StoreError> {
        self.db().read(|tx| {
            let mut st = tx
                .prepare("SELECT holder FROM snapshot_refs WHERE snapshot_id = ?1 ORDER BY holder")
                .map_err(DbError::from)?;
            let v = st
                .query_map([id], |r| r.get(0))
                .map_err(DbError::from)?
                .collect::<Result<Vec<String>, _>>()
                .map_err(DbError::from)?;
            Ok(v)
        })
    }

    /// Containers holding the image's top snapshot (what `rmi` refuses without force).
    pub fn image_holders(&self, image: &ImageRecord) -> Result<Vec<String>, StoreError> {
        let config = self.read_config(&image.config_digest)?;
        match chain_ids(&config.rootfs.diff_ids).last() {
            Some(top) => self.snapshot_holders(&top.to_string()),
            None => Ok(Vec::new()),
        }
    }
}
