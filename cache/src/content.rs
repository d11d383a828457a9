//! The content store: immutable blobs under `blobs/sha256/<hex>`, streamed in, hashed while
//! written, made durable (fsync, rename, dir fsync) before anyone can see them.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::digest::{Digest, HashingWriter};
use crate::ingest::IngestFile;

#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error("digest mismatch: expected {expected}, content hashes to {actual} ({size} bytes); the source is corrupt or the reference is wrong, nothing was stored")]
    DigestMismatch {
        expected: Digest,
        actual: Digest,
        size: u64,
    },
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        digest: Digest,
        expected: u64,
        actual: u64,
    },
    #[error("blob {digest} not found in {path}; pull or load the image again, or run `kiln system check`")]
    NotFound { digest: Digest, path: PathBuf },
    #[error(
        "blob {digest} is {size} bytes, larger than the {limit}-byte limit for metadata documents"
    )]
    TooLarge {
        digest: Digest,
        size: u64,
        limit: u64,
    },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

pub(crate) fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> ContentError + 'a {
    move |source| ContentError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Hashes all of `reader` and checks it is `expected`; returns its size. `op` and `path`
/// name the read in errors.
fn hash_and_check(
    reader: &mut impl Read,
    expected: &Digest,
    op: &'static str,
    path: &Path,
) -> Result<u64, ContentError> {
    let mut h = HashingWriter::new(io::sink());
    io::copy(reader, &mut h).map_err(io_err(op, path))?;
    let (_, actual, size) = h.finish();
    if &actual != expected {
        return Err(ContentError::DigestMismatch {
            expected: expected.clone(),
            actual,
            size,
        });
    }
    Ok(size)
}

/// A committed blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    pub digest: Digest,
    pub size: u64,
}

#[derive(Debug, Clone)]
pub struct ContentStore {
    blobs: PathBuf,
    ingest: PathBuf,
}

impl ContentStore {
    pub fn open(root: &Path) -> Result<Self, ContentError> {
        let blobs = root.join("blobs").join("sha256");
        let ingest = root.join("blobs").join("ingest");
        for d in [&blobs, &ingest] {
            fs::create_dir_all(d).map_err(io_err("create", d))?;
        }
        Ok(ContentStore { blobs, ingest })
    }

    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.blobs.join(digest.hex())
    }

    pub fn ingest_dir(&self) -> &Path {
        &self.ingest
    }

    pub fn exists(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    pub fn size(&self, digest: &Digest) -> Result<u64, ContentError> {
        let p = self.path(digest);
        match fs::metadata(&p) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ContentError::NotFound {
                digest: digest.clone(),
                path: p,
            }),
            Err(e) => Err(ContentError::Io {
                op: "stat",
                path: p,
                source: e,
            }),
        }
    }

    pub fn open_blob(&self, digest: &Digest) -> Result<File, ContentError> {
        let p = self.path(digest);
        match File::open(&p) {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ContentError::NotFound {
                digest: digest.clone(),
                path: p,
            }),
            Err(e) => Err(ContentError::Io {
                op: "open",
                path: p,
                source: e,
            }),
        }
    }

    /// Read a small document (manifest, config, index) whole; `limit` guards memory against a
    /// hostile or mistaken reference to a huge blob.
    pub fn read_limited(&self, digest: &Digest, limit: u64) -> Result<Vec<u8>, ContentError> {
        let size = self.size(digest)?;
        if size > limit {
            return Err(ContentError::TooLarge {
                digest: digest.clone(),
                size,
                limit,
            });
        }
        let p = self.path(digest);
        let buf = fs::read(&p).map_err(io_err("read", &p))?;
        Ok(buf)
    }

    /// Start writing a blob whose digest is known only at the end.
    pub fn writer(&self) -> Result<BlobWriter, ContentError> {
        let (tmp, out) = IngestFile::open(&self.ingest)?;
        Ok(BlobWriter {
            store: self.clone(),
            tmp,
            out: HashingWriter::new(out),
        })
    }

    /// Stream `reader` into the store; with `expected`, a mismatch is an error and leaves nothing.
    pub fn ingest(
        &self,
        mut reader: impl Read,
        expected: Option<&Digest>,
    ) -> Result<BlobInfo, ContentError> {
        if let Some(d) = expected {
            if self.exists(d) {
                // Still consume and verify: callers stream archives and need the bytes read.
                let size = hash_and_check(&mut reader, d, "read source for", &self.path(d))?;
                return Ok(BlobInfo {
                    digest: d.clone(),
                    size,
                });
            }
        }
        let mut w = self.writer()?;
        io::copy(&mut reader, &mut w).map_err(|source| ContentError::Io {
            op: "write",
            path: w.tmp.path().to_path_buf(),
            source,
        })?;
        w.commit(expected)
    }

    pub fn put_bytes(&self, bytes: &[u8]) -> Result<BlobInfo, ContentError> {
        let d = Digest::of_bytes(bytes);
        if self.exists(&d) {
            return Ok(BlobInfo {
                digest: d,
                size: bytes.len() as u64,
            });
        }
        self.ingest(bytes, Some(&d))
    }

    /// Remove a blob; only the garbage collector and repair should call this.
    pub fn delete(&self, digest: &Digest) -> Result<(), ContentError> {
        let p = self.path(digest);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ContentError::Io {
                op: "remove",
                path: p,
                source: e,
            }),
        }
    }

    /// Every blob file present, and the names of files under `blobs/sha256` that are not digests.
    pub fn list(&self) -> Result<(Vec<Digest>, Vec<PathBuf>), ContentError> {
        let mut good = Vec::new();
        let mut bad = Vec::new();
        for e in fs::read_dir(&self.blobs).map_err(io_err("list", &self.blobs))? {
            let e = e.map_err(io_err("list", &self.blobs))?;
            match e.file_name().to_str().map(Digest::from_hex) {
                Some(Ok(d)) => good.push(d),
                _ => bad.push(e.path()),
            }
        }
        good.sort();
        Ok((good, bad))
    }

    /// Re-hash a blob and compare with its name.
    pub fn verify(&self, digest: &Digest) -> Result<u64, ContentError> {
        let mut f = self.open_blob(digest)?;
        hash_and_check(&mut f, digest, "read", &self.path(digest))
    }
}

/// A blob being written: a locked temp file in `blobs/ingest/`, hashed as bytes go in.
pub struct BlobWriter {
    store: ContentStore,
    tmp: IngestFile,
    out: HashingWriter<BufWriter<File>>,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl BlobWriter {
    /// Make the blob durable under its digest. Two writers of the same content may commit at
    /// once: both renames put identical bytes in place, so both succeed with one blob.
    pub fn commit(self, expected: Option<&Digest>) -> Result<BlobInfo, ContentError> {
        let BlobWriter { store, tmp, out } = self;
        let (buf, digest, size) = out.finish();
        if let Some(exp) = expected {
            if exp != &digest {
                return Err(ContentError::DigestMismatch {
                    expected: exp.clone(),
                    actual: digest,
                    size,
                });
            }
        }
        tmp.commit(buf, &store, &digest, size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingest_verifies_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(dir.path()).unwrap();
        let d = Digest::of_bytes(b"abc");
        let info = cs.ingest(&b"abc"[..], Some(&d)).unwrap();
        assert_eq!(
            info,
            BlobInfo {
                digest: d.clone(),
                size: 3
            }
        );
        assert_eq!(fs::read(cs.path(&d)).unwrap(), b"abc");
        assert_eq!(cs.ingest(&b"abc"[..], None).unwrap().digest, d);
        assert_eq!(cs.verify(&d).unwrap(), 3);
    }

    #[test]
    fn mismatch_names_both_digests_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(dir.path()).unwrap();
        let want = Digest::of_bytes(b"expected");
        let err = cs.ingest(&b"other"[..], Some(&want)).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&want.to_string()), "{msg}");
        assert!(
            msg.contains(&Digest::of_bytes(b"other").to_string()),
            "{msg}"
        );
        assert!(!cs.exists(&want));
        assert_eq!(fs::read_dir(cs.ingest_dir()).unwrap().count(), 0);
        assert!(cs.list().unwrap().0.is_empty());
    }

    #[test]
    fn concurrent_same_digest_writers_all_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(dir.path()).unwrap();
        let data: Vec<u8> = (0..(3 << 20)).map(|i: u32| (i % 251) as u8).collect();
        let want = Digest::of_bytes(&data);
        std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|_| s.spawn(|| cs.ingest(&data[..], Some(&want))))
                .collect();
            for h in hs {
                assert_eq!(h.join().unwrap().unwrap().digest, want);
            }
        });
        assert_eq!(cs.list().unwrap().0, vec![want.clone()]);
        assert_eq!(cs.verify(&want).unwrap(), data.len() as u64);
        assert_eq!(fs::read_dir(cs.ingest_dir()).unwrap().count(), 0);
    }

    #[test]
    fn live_writer_temp_file_is_locked() {
        let dir = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(dir.path()).unwrap();
        let mut w = cs.writer().unwrap();
        w.write_all(b"partial").unwrap();
        let tmp = fs::read_dir(cs.ingest_dir())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        assert!(crate::fsutil::is_locked(&tmp).unwrap());
        let info = w.commit(None).unwrap();
        assert!(!tmp.exists());
        assert_eq!(info.digest, Digest::of_bytes(b"partial"));
    }
}
