//! Checksums of selected context files, for cache keys. A file's content is hashed only
//! when its (dev, inode, size, mtime, ctime) differ from the previous build's, so a no-op
//! rebuild of a large context costs a stat walk. The previous stamps live in a small file
//! per context directory, in a compact binary form (`ChecksumCache::load` / `save`).

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

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

#[derive(Debug, Clone, Default)]
struct Known {
    stamp: Stamp,
    sha256: String,
}

/// Content hashes of context files from earlier builds, by relative path.
#[derive(Debug, Default)]
pub struct ChecksumCache {
    files: HashMap<String, Known>,
    dirty: bool,
}

impl ChecksumCache {
    /// Read a cache file; a missing, unreadable or foreign one is an empty cache (it is only
    /// an optimisation, never a source of truth beyond the stamps it checks).
    pub fn load(path: &Path) -> ChecksumCache {
        std::fs::read(path)
            .ok()
            .and_then(|b| decode(&b))
            .map(|files| ChecksumCache {
                files,
                dirty: false,
            })
            .unwrap_or_default()
    }

    /// Write the cache atomically (temp file + rename) if anything changed. The format is
    /// binary (see `encode`): a no-op rebuild of a 20,000-file context reads it whole, and
    /// JSON of that size took longer to parse than the stat walk.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let mut f = File::create(&tmp)?;
        f.write_all(&encode(&self.files))?;
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

/// Leading bytes of a cache file; a different version is not read (and is rewritten).
const MAGIC: &[u8; 8] = b"KILNCS02";

/// `MAGIC`, then per file: u32 path length, the path, dev, ino, size, mtime_ns, ctime_ns
/// (8 bytes each, little endian) and the 32-byte sha256.
fn encode(files: &HashMap<String, Known>) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAGIC.len() + files.len() * 120);
    out.extend_from_slice(MAGIC);
    for (path, k) in files {
        let (Ok(len), Ok(sum)) = (u32::try_from(path.len()), hex::decode(&k.sha256)) else {
            continue; // cannot happen for paths and hashes this module made; skip, never fail
        };
        if sum.len() != 32 {
            continue;
        }
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(path.as_bytes());
        let st = &k.stamp;
        for v in [st.dev, st.ino, st.size] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in [st.mtime_ns, st.ctime_ns] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&sum);
    }
    out
}

/// The files of an encoded cache; `None` when the bytes are not a complete cache file.
fn decode(bytes: &[u8]) -> Option<HashMap<String, Known>> {
    let mut rest = bytes.strip_prefix(MAGIC.as_slice())?;
    let mut files = HashMap::new();
    while !rest.is_empty() {
        let (len, tail) = rest.split_at_checked(4)?;
        let len = u32::from_le_bytes(len.try_into().ok()?) as usize;
        let (path, tail) = tail.split_at_checked(len)?;
        let (fixed, tail) = tail.split_at_checked(5 * 8 + 32)?;
        rest = tail;
        let word = |i: usize| -> Option<[u8; 8]> { fixed.get(i * 8..i * 8 + 8)?.try_into().ok() };
        let stamp = Stamp {
            dev: u64::from_le_bytes(word(0)?),
            ino: u64::from_le_bytes(word(1)?),
            size: u64::from_le_bytes(word(2)?),
            mtime_ns: i64::from_le_bytes(word(3)?),
            ctime_ns: i64::from_le_bytes(word(4)?),
        };
        let sha256 = hex::encode(fixed.get(40..)?);
        let path = std::str::from_utf8(path).ok()?.to_string();
        files.insert(path, Known { stamp, sha256 });
    }
    Some(files)
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
        let file = d.path().join("state/cache.bin");
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
    fn truncated_or_foreign_cache_files_load_as_empty() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a"), "1").unwrap();
        std::fs::write(d.path().join("b"), "2").unwrap();
        let mut cache = ChecksumCache::default();
        sum(d.path(), ".", &mut cache);
        let file = d.path().join("cache.bin");
        cache.save(&file).unwrap();
        let bytes = std::fs::read(&file).unwrap();
        assert_eq!(ChecksumCache::load(&file).files.len(), 2);
        // A cut inside an entry rejects the file; one between entries keeps whole entries
        // only; none panics.
        assert!(decode(&bytes[..bytes.len() - 1]).is_none());
        assert!(decode(&bytes[..4]).is_none());
        for cut in 0..bytes.len() {
            if let Some(files) = decode(&bytes[..cut]) {
                assert!(files.len() < 2, "cut at {cut} kept both entries");
            }
        }
        std::fs::write(&file, br#"{"files":{}}"#).unwrap();
        assert!(ChecksumCache::load(&file).files.is_empty());
        // Unchanged after loading: saving writes nothing.
        let loaded = ChecksumCache::load(&d.path().join("missing"));
        loaded.save(&d.path().join("never")).unwrap();
        assert!(!d.path().join("never").exists());
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
