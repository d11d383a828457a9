//! Checksums of selected context files, for cache keys. A file's content is hashed only
//! when its (dev, inode, size, mtime, ctime) differ from the previous build's, so a no-op
//! rebuild of a large context costs a stat walk. The previous stamps live in a small file
//! per context directory (`ChecksumCache::load` / `save`).

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::select::{Entry, EntryKind, Stamp};

#[derive(Debug, thiserror::Error)]
pub enum ChecksumError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Known {
    stamp: Stamp,
    sha256: String,
}

/// Content hashes of context files from earlier builds, by relative path.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ChecksumCache {
    files: HashMap<String, Known>,
    #[serde(skip)]
    dirty: bool,
}

impl ChecksumCache {
    /// Read a cache file; a missing or unreadable one is an empty cache (it is only an
    /// optimisation, never a source of truth beyond the stamps it checks).
    pub fn load(path: &Path) -> ChecksumCache {
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Write the cache atomically (temp file + rename) if anything changed.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let mut f = File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(self).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    }

    /// The sha256 (hex) of a regular file's content, reusing the previous hash when its
    /// stamp is unchanged.
    pub fn file_hash(&mut self, root: &Path, entry: &Entry) -> Result<String, ChecksumError> {
        if let Some(k) = self.files.get(&entry.path) {
            if k.stamp == entry.stamp {
                return Ok(k.sha256.clone());
            }
        }
        let full = root.join(&entry.path);
        let hash = hash_file(&full).map_err(|source| ChecksumError::Read { path: full, source })?;
        self.files.insert(
            entry.path.clone(),
            Known {
                stamp: entry.stamp,
                sha256: hash.clone(),
            },
        );
        self.dirty = true;
        Ok(hash)
    }
}

impl ChecksumCache {
    /// Hash every selected file the cache does not know (new or changed), on all cores: a
    /// cold 20,000-file context costs one parallel read instead of a serial one.
    fn hash_missing(&mut self, root: &Path, entries: &[Entry]) -> Result<(), ChecksumError> {
        let todo: Vec<&Entry> = entries
            .iter()
            .filter(|e| e.kind == EntryKind::File)
            .filter(|e| self.files.get(&e.path).is_none_or(|k| k.stamp != e.stamp))
            .collect();
        if todo.len() < 64 {
            return Ok(()); // not worth threads; file_hash does these
        }
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 8);
        let next = AtomicUsize::new(0);
        let hashed: Vec<Result<Vec<(usize, String)>, ChecksumError>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    s.spawn(|| {
                        let mut out = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(e) = todo.get(i) else { break };
                            let full = root.join(&e.path);
                            let hash = hash_file(&full)
                                .map_err(|source| ChecksumError::Read { path: full, source })?;
                            out.push((i, hash));
                        }
                        Ok(out)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Ok(Vec::new())))
                .collect()
        });
        for part in hashed {
            for (i, sha256) in part? {
                if let Some(e) = todo.get(i) {
                    let known = Known {
                        stamp: e.stamp,
                        sha256,
                    };
                    self.files.insert(e.path.clone(), known);
                    self.dirty = true;
                }
            }
        }
        Ok(())
    }
}

fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// The checksum of a selection: what a COPY of these entries depends on — names, types,
/// modes, owners, sizes, link targets and contents; never times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextChecksum(pub String);

impl ContextChecksum {
    pub fn compute(
        root: &Path,
        entries: &[Entry],
        cache: &mut ChecksumCache,
    ) -> Result<ContextChecksum, ChecksumError> {
        cache.hash_missing(root, entries)?;
        let mut h = Sha256::new();
        for e in entries {
            let content = match e.kind {
                EntryKind::File => cache.file_hash(root, e)?,
                _ => String::new(),
            };
            let line = format!(
                "{}\0{:?}\0{:o}\0{}\0{}\0{}\0{}\0{}\n",
                e.path,
                e.kind,
                e.mode,
                e.uid,
                e.gid,
                e.size,
                e.link_target.as_deref().unwrap_or(""),
                content
            );
            h.update(line.as_bytes());
        }
        Ok(ContextChecksum(format!(
            "sha256:{}",
            hex::encode(h.finalize())
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{select, Matcher};
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn sum(root: &Path, inc: &str, cache: &mut ChecksumCache) -> String {
        let v = select(root, &[inc.to_string()], &Matcher::default()).unwrap();
        ContextChecksum::compute(root, &v, cache).unwrap().0
    }

    #[test]
    fn changes_with_content_and_mode_not_with_mtime() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("app.py");
        std::fs::write(&f, "print(1)").unwrap();
        std::fs::write(d.path().join("other"), "x").unwrap();
        let mut cache = ChecksumCache::default();
        let s1 = sum(d.path(), "app.py", &mut cache);
        // Only the mtime changes: same checksum (and a re-hash, since the stamp changed).
        let t = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(t)
            .unwrap();
        assert_eq!(sum(d.path(), "app.py", &mut cache), s1);
        // An unselected file changes: same checksum.
        std::fs::write(d.path().join("other"), "y").unwrap();
        assert_eq!(sum(d.path(), "app.py", &mut cache), s1);
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
        let s2 = sum(d.path(), "app.py", &mut cache);
        assert_ne!(s2, s1);
        std::fs::write(&f, "print(2)").unwrap();
        assert_ne!(sum(d.path(), "app.py", &mut cache), s2);
    }

    #[test]
    fn unchanged_stamp_reuses_hash_and_cache_round_trips() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a"), "1").unwrap();
        let mut cache = ChecksumCache::default();
        let s1 = sum(d.path(), "a", &mut cache);
        let file = d.path().join("state/cache.json");
        cache.save(&file).unwrap();
        let mut loaded = ChecksumCache::load(&file);
        assert_eq!(loaded.files.len(), 1);
        // Poison the remembered hash: an unchanged stamp must reuse it, proving no re-read.
        if let Some(k) = loaded.files.get_mut("a") {
            k.sha256 = "remembered".into();
        }
        let s2 = sum(d.path(), "a", &mut loaded);
        assert_ne!(s1, s2, "the remembered hash was not used");
        assert!(!loaded.dirty);
    }

    #[test]
    fn many_files_are_hashed_in_parallel_into_the_cache() {
        let d = tempfile::tempdir().unwrap();
        for i in 0..150 {
            std::fs::write(d.path().join(format!("f{i}")), format!("content {i}")).unwrap();
        }
        let mut cache = ChecksumCache::default();
        let first = sum(d.path(), ".", &mut cache);
        assert_eq!(cache.files.len(), 150);
        let f7 = hash_file(&d.path().join("f7")).unwrap();
        assert_eq!(cache.files["f7"].sha256, f7);
        std::fs::write(d.path().join("f99"), "changed").unwrap();
        assert_ne!(sum(d.path(), ".", &mut cache), first);
        assert_eq!(
            cache.files["f99"].sha256,
            hash_file(&d.path().join("f99")).unwrap()
        );
    }
}
