//! `kiln system check`: verify every blob's digest, every image's references, every
//! snapshot; with repair, remove what is broken or orphaned. Problems (corruption, images
//! pointing at missing content) are kept apart from garbage (orphans, temp files), which a
//! crash may leave behind by design.

use std::collections::HashSet;
use std::fs;

use crate::db::DbError;
use crate::digest::Digest;
use crate::fsutil;
use crate::image::spec::media;
use crate::store::{io_err, Store, StoreError};

#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    pub blobs_checked: usize,
    pub images_checked: usize,
    pub snapshots_checked: usize,
    /// Corruption or dangling references.
    pub problems: Vec<String>,
    /// Unreferenced or temporary content, harmless but using space.
    pub garbage: Vec<String>,
    /// What `--repair` did.
    pub repaired: Vec<String>,
}

impl CheckReport {
    pub fn is_healthy(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Store {
    pub fn check(&self, repair: bool) -> Result<CheckReport, StoreError> {
        // Exclusive: no load or layer write is half done while we look.
        let _gc = self.gc_guard()?;
        let mut rep = CheckReport::default();
        let (blobs, strays) = self.content().list()?;
        let mut good: HashSet<Digest> = HashSet::new();
        for b in blobs {
            rep.blobs_checked += 1;
            match self.content().verify(&b) {
                Ok(_) => {
                    good.insert(b);
                }
                Err(e) => {
                    rep.problems.push(format!("blob {b} is corrupt: {e}"));
                    if repair {
                        self.content().delete(&b)?;
                        rep.repaired.push(format!("removed corrupt blob {b}"));
                    }
                }
            }
        }
        for s in strays {
            rep.garbage.push(format!("stray file {}", s.display()));
            if repair {
                fs::remove_file(&s).map_err(io_err("remove", &s))?;
                rep.repaired.push(format!("removed {}", s.display()));
            }
        }
        self.check_images(&good, repair, &mut rep)?;
        self.check_snapshots(repair, &mut rep)?;
        let live = self.live_set()?;
        for b in &good {
            if !live.blobs.contains(b) {
                rep.garbage.push(format!("unreferenced blob {b}"));
            }
        }
        let ing = self.content().ingest_dir().to_path_buf();
        for e in fs::read_dir(&ing).map_err(io_err("list", &ing))? {
            let p = e.map_err(io_err("list", &ing))?.path();
            rep.garbage.push(format!("temp file {}", p.display()));
        }
        if repair {
            let gc = self.collect_garbage_locked()?;
            rep.repaired.extend(
                gc.blobs_removed
                    .iter()
                    .map(|b| format!("removed unreferenced blob {b}")),
            );
            rep.repaired.extend(
                gc.snapshots_removed
                    .iter()
                    .map(|s| format!("removed orphan snapshot {s}")),
            );
            rep.repaired
                .extend(gc.temp_removed.iter().map(|t| format!("removed temp {t}")));
        }
        Ok(rep)
    }

    fn check_images(
        &self,
        good: &HashSet<Digest>,
        repair: bool,
        rep: &mut CheckReport,
    ) -> Result<(), StoreError> {
        for img in self.list_images()? {
            rep.images_checked += 1;
            let label = match img.names.first() {
                Some(n) => format!("image {} ({})", img.config_digest.short(), n.familiar()),
                None => format!("image {}", img.config_digest.short()),
            };
            let mut missing = Vec::new();
            let mut need = |d: &Digest| {
                if !good.contains(d) {
                    missing.push(d.to_string());
                }
            };
            need(&img.manifest_digest);
            need(&img.config_digest);
            if let Ok(m) = self.read_manifest(&img.manifest_digest) {
                m.layers
                    .iter()
                    .filter(|l| l.media_type != media::DOCKER_FOREIGN_LAYER)
                    .for_each(|l| need(&l.digest));
                if m.config.digest != img.config_digest {
                    missing.push(format!(
                        "(manifest names config {}, record says {})",
                        m.config.digest, img.config_digest
                    ));
                }
            }
            if good.contains(&img.config_digest) {
                if let Err(e) = self.read_config(&img.config_digest) {
                    missing.push(format!("(config unreadable: {e})"));
                }
            }
            if missing.is_empty() {
                continue;
            }
            rep.problems.push(format!(
                "{label} points at missing or corrupt content: {}",
                missing.join(", ")
            ));
            if repair {
                let names = self.remove_image_with_tags(&img.manifest_digest)?;
                let names: Vec<String> = names.iter().map(|n| n.familiar()).collect();
                rep.repaired.push(format!(
                    "removed broken {label} and its names [{}]; load or pull it again",
                    names.join(", ")
                ));
            }
        }
        Ok(())
    }

    fn check_snapshots(&self, repair: bool, rep: &mut CheckReport) -> Result<(), StoreError> {
        let rows: Vec<(String, Option<String>)> = self.db().read(|tx| {
            let mut st = tx
                .prepare("SELECT id, parent FROM snapshots")
                .map_err(DbError::from)?;
            let v = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(DbError::from)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(DbError::from)?;
            Ok::<_, StoreError>(v)
        })?;
        let ids: HashSet<&String> = rows.iter().map(|(id, _)| id).collect();
        let mut bad = Vec::new();
        for (id, parent) in &rows {
            rep.snapshots_checked += 1;
            let fs_dir = self.snapshot_path(id).join("fs");
            if !fs_dir.is_dir() || fs_dir.is_symlink() {
                rep.problems.push(format!(
                    "snapshot {id}: directory {} is missing",
                    fs_dir.display()
                ));
                bad.push(id.clone());
            } else if let Some(p) = parent.as_ref().filter(|p| !ids.contains(p)) {
                rep.problems
                    .push(format!("snapshot {id}: parent {p} is missing"));
                bad.push(id.clone());
            }
        }
        let known: HashSet<_> = rows.iter().map(|(id, _)| self.snapshot_path(id)).collect();
        let sdir = self.snapshots_dir();
        for e in fs::read_dir(&sdir).map_err(io_err("list", &sdir))? {
            let p = e.map_err(io_err("list", &sdir))?.path();
            if !known.contains(&p) {
                let live = fsutil::is_locked(&p.join("lock")).unwrap_or(false);
                if !live {
                    rep.garbage
                        .push(format!("orphan snapshot directory {}", p.display()));
                }
            }
        }
        if repair && !bad.is_empty() {
            self.forget_snapshots(&bad)?;
            rep.repaired.extend(bad.iter().map(|id| {
                format!("forgot broken snapshot {id} (it is unpacked again on next use)")
            }));
        }
        Ok(())
    }
}
