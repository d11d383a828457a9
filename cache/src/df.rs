//! `kiln system df`: real disk use (allocated blocks) of images, build cache and their
//! reclaimable parts.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;

use crate::digest::Digest;
use crate::fsutil;
use crate::image::spec::chain_ids;
use crate::store::{Store, StoreError};

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UsageRow {
    pub kind: String,
    pub total: usize,
    pub active: usize,
    pub size: u64,
    pub reclaimable: u64,
}

impl Store {
    fn blob_du(&self, d: &Digest) -> u64 {
        std::fs::symlink_metadata(self.content().path(d))
            .map(|m| m.blocks() * 512)
            .unwrap_or(0)
    }

    fn snap_du(&self, id: &str) -> u64 {
        fsutil::disk_usage(&self.snapshot_path(id)).unwrap_or(0)
    }

    pub fn disk_usage(&self) -> Result<Vec<UsageRow>, StoreError> {
        let images = self.list_images()?;
        let mut all = (HashSet::new(), HashSet::new());
        let mut active = (HashSet::new(), HashSet::new());
        let mut active_count = 0;
        for img in &images {
            let mut blobs: Vec<Digest> =
                vec![img.manifest_digest.clone(), img.config_digest.clone()];
            let mut snaps = Vec::new();
            if let Ok(m) = self.read_manifest(&img.manifest_digest) {
                blobs.extend(m.layers.into_iter().map(|l| l.digest));
            }
            if let Ok(c) = self.read_config(&img.config_digest) {
                for ch in chain_ids(&c.rootfs.diff_ids) {
                    snaps.push(format!("flat:{ch}"));
                    snaps.push(ch.to_string());
                }
            }
            let used = !self.image_holders(img).unwrap_or_default().is_empty();
            if used {
                active_count += 1;
                active.0.extend(blobs.iter().cloned());
                active.1.extend(snaps.iter().cloned());
            }
            all.0.extend(blobs);
            all.1.extend(snaps);
        }
        let size_of = |b: &HashSet<Digest>, s: &HashSet<String>| -> u64 {
            b.iter().map(|d| self.blob_du(d)).sum::<u64>()
                + s.iter().map(|id| self.snap_du(id)).sum::<u64>()
        };
        let img_size = size_of(&all.0, &all.1);
        let img_active = size_of(&active.0, &active.1);
        let records = self.list_cache_records()?;
        let mut cache_snaps = HashSet::new();
        let mut cache_blobs = HashSet::new();
        let mut in_use = 0;
        for r in &records {
            let shared = r.snapshot_id.as_ref().is_some_and(|s| all.1.contains(s));
            if shared {
                in_use += 1;
            }
            if let Some(s) = r.snapshot_id.as_ref().filter(|s| !all.1.contains(*s)) {
                cache_snaps.insert(s.clone());
            }
            if let Some(b) = r.blob.as_ref().filter(|b| !all.0.contains(*b)) {
                cache_blobs.insert(b.clone());
            }
        }
        let cache_size = size_of(&cache_blobs, &cache_snaps);
        Ok(vec![
            UsageRow {
                kind: "Images".into(),
                total: images.len(),
                active: active_count,
                size: img_size,
                reclaimable: img_size.saturating_sub(img_active),
            },
            UsageRow {
                kind: "Containers".into(),
                ..Default::default()
            },
            UsageRow {
                kind: "Local Volumes".into(),
                ..Default::default()
            },
            UsageRow {
                kind: "Build Cache".into(),
                total: records.len(),
                active: in_use,
                size: cache_size,
                reclaimable: cache_size,
            },
        ])
    }
}
