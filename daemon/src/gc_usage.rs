//! Real disk use of the build cache, and which records the GC policy removes: a record
//! costs the allocated bytes of its state document, the layer blobs of its chain and its
//! snapshot, less what images share, each file counted once however many records use it
//! (removing a record frees only what no remaining record still uses). The record's own
//! `size` column is not used: it is the size of the step's top layer, not of the files.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use kiln_cache::cache_record::CacheRecord;
use kiln_cache::image::spec::chain_ids;
use kiln_cache::{Digest, Store, StoreError};
use kiln_solver::local::Chain;

/// One file the build cache keeps on disk.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Resource {
    Snapshot(String),
    Blob(Digest),
}

/// What images keep (and so never counts as build cache).
#[derive(Debug, Default)]
struct ImageHeld {
    blobs: HashSet<Digest>,
    snapshots: HashSet<String>,
}

fn image_held(store: &Store) -> Result<ImageHeld, StoreError> {
    let mut held = ImageHeld::default();
    for img in store.list_images()? {
        held.blobs.insert(img.manifest_digest.clone());
        held.blobs.insert(img.config_digest.clone());
        if let Ok(m) = store.read_manifest(&img.manifest_digest) {
            held.blobs.extend(m.layers.into_iter().map(|l| l.digest));
        }
        if let Ok(c) = store.read_config(&img.config_digest) {
            for ch in chain_ids(&c.rootfs.diff_ids) {
                held.snapshots.insert(format!("flat:{ch}"));
                held.snapshots.insert(ch.to_string());
            }
        }
    }
    Ok(held)
}

/// One record as the GC sees it.
struct Entry {
    key: String,
    last_used: i64,
    /// Build cache files it keeps (none an image's).
    owns: Vec<Resource>,
    /// An image uses its result: kept (its files are the image's anyway).
    in_use: bool,
}

/// The build cache of a store as the GC sees it.
pub struct CacheUsage {
    /// Oldest use first.
    entries: Vec<Entry>,
    sizes: HashMap<Resource, u64>,
}

impl CacheUsage {
    pub fn measure(store: &Store) -> Result<CacheUsage, StoreError> {
        let mut records = store.list_cache_records()?;
        records.sort_by_key(|r| r.last_used);
        let held = image_held(store)?;
        let entries: Vec<Entry> = records.iter().map(|r| entry(store, &held, r)).collect();
        let mut usage = CacheUsage {
            entries,
            sizes: HashMap::new(),
        };
        let all: HashSet<Resource> = usage
            .entries
            .iter()
            .flat_map(|e| e.owns.iter().cloned())
            .collect();
        for res in all {
            let bytes = match &res {
                Resource::Snapshot(id) => {
                    kiln_cache::disk_usage(&store.snapshot_path(id)).unwrap_or(0)
                }
                Resource::Blob(d) => std::fs::symlink_metadata(store.content().path(d))
                    .map(|m| m.blocks() * 512)
                    .unwrap_or(0),
            };
            usage.sizes.insert(res, bytes);
        }
        Ok(usage)
    }

    /// Bytes on disk the build cache holds.
    pub fn total(&self) -> u64 {
        self.sizes.values().sum()
    }

    /// The keys to remove: records unused for longer than `keep_duration` (at `now`,
    /// seconds), then the least recently used until the rest fits in `keep_storage`.
    pub fn plan(
        &self,
        now: i64,
        keep_duration: Option<Duration>,
        keep_storage: Option<u64>,
    ) -> Vec<String> {
        let mut users: HashMap<&Resource, usize> = HashMap::new();
        for res in self.entries.iter().flat_map(|e| &e.owns) {
            *users.entry(res).or_default() += 1;
        }
        let mut total = self.total();
        let mut removed = vec![false; self.entries.len()];
        let mut remove = |i: usize, total: &mut u64, removed: &mut Vec<bool>| {
            removed[i] = true;
            for res in &self.entries[i].owns {
                if let Some(n) = users.get_mut(res) {
                    *n -= 1;
                    if *n == 0 {
                        *total = total.saturating_sub(self.sizes.get(res).copied().unwrap_or(0));
                    }
                }
            }
        };
        if let Some(d) = keep_duration {
            let cutoff = now.saturating_sub(d.as_secs() as i64);
            for (i, e) in self.entries.iter().enumerate() {
                if e.last_used < cutoff && !e.in_use {
                    remove(i, &mut total, &mut removed);
                }
            }
        }
        if let Some(keep) = keep_storage {
            for (i, e) in self.entries.iter().enumerate() {
                if total <= keep {
                    break;
                }
                if !removed[i] && !e.in_use {
                    remove(i, &mut total, &mut removed);
                }
            }
        }
        self.entries
            .iter()
            .zip(removed)
            .filter(|(_, gone)| *gone)
            .map(|(e, _)| e.key.clone())
            .collect()
    }
}

fn entry(store: &Store, held: &ImageHeld, r: &CacheRecord) -> Entry {
    let mut owns = Vec::new();
    if let Some(s) = r
        .snapshot_id
        .as_ref()
        .filter(|s| !held.snapshots.contains(*s))
    {
        owns.push(Resource::Snapshot(s.clone()));
    }
    let mut in_use = r
        .snapshot_id
        .as_ref()
        .is_some_and(|s| held.snapshots.contains(s));
    if let Some(doc) = &r.blob {
        owns.push(Resource::Blob(doc.clone()));
        // A document that cannot be read costs only itself; the GC then drops it by age
        // or size like any other.
        if let Ok(Some(chain)) = Chain::load(store, doc) {
            in_use |= chain
                .layers
                .last()
                .is_some_and(|l| held.blobs.contains(&l.blob));
            owns.extend(
                chain
                    .layers
                    .iter()
                    .filter(|l| !held.blobs.contains(&l.blob))
                    .map(|l| Resource::Blob(l.blob.clone())),
            );
        }
    }
    Entry {
        key: r.key.clone(),
        last_used: r.last_used,
        owns,
        in_use,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, snap: &str, last_used: i64, in_use: bool) -> Entry {
        Entry {
            key: key.into(),
            last_used,
            owns: if in_use {
                Vec::new()
            } else {
                vec![Resource::Snapshot(snap.into())]
            },
            in_use,
        }
    }

    fn usage(entries: Vec<Entry>, sizes: &[(&str, u64)]) -> CacheUsage {
        CacheUsage {
            entries,
            sizes: sizes
                .iter()
                .map(|(s, n)| (Resource::Snapshot(s.to_string()), *n))
                .collect(),
        }
    }

    #[test]
    fn keeps_the_newest_within_the_real_bytes_and_counts_shared_files_once() {
        // a and a2 share one snapshot: removing a alone frees nothing.
        let u = usage(
            vec![
                entry("a", "s1", 10, false),
                entry("a2", "s1", 20, false),
                entry("b", "s2", 30, false),
                entry("c", "s3", 40, false),
            ],
            &[("s1", 100), ("s2", 50), ("s3", 50)],
        );
        assert_eq!(u.total(), 200);
        assert_eq!(u.plan(100, None, Some(100)), vec!["a", "a2"]);
        assert_eq!(u.plan(100, None, Some(60)), vec!["a", "a2", "b"]);
        assert_eq!(u.plan(100, None, Some(500)), Vec::<String>::new());
        // Age first: older than 100-75=25 goes, whatever the size.
        assert_eq!(
            u.plan(100, Some(Duration::from_secs(75)), None),
            vec!["a", "a2"]
        );
    }

    #[test]
    fn records_images_use_are_kept_and_not_counted() {
        let u = usage(
            vec![entry("img", "s1", 1, true), entry("old", "s2", 2, false)],
            &[("s2", 10)],
        );
        assert_eq!(u.total(), 10);
        assert_eq!(u.plan(100, None, Some(0)), vec!["old"]);
        assert_eq!(u.plan(100, Some(Duration::from_secs(1)), None), vec!["old"]);
    }
}
