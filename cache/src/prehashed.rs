//! Writing a blob whose bytes the caller hashes itself, e.g. a registry download that
//! verifies the digest while the bytes stream past: hashing them a second time on the way
//! into the store would double the CPU cost of every pull and cache import (sha256 is the
//! bottleneck of a loopback download, and much more so in a debug build).
//!
//! The writer keeps the store's other guarantees: a locked temp file in `blobs/ingest/`,
//! fsynced and renamed into place on commit, so nobody sees a partial blob. The caller
//! promises the digest; the size is checked.

use std::fs::File;
use std::io::{self, BufWriter, Write};

use crate::content::{BlobInfo, ContentError, ContentStore};
use crate::digest::Digest;
use crate::ingest::IngestFile;

impl ContentStore {
    /// Start writing a blob the caller verifies as it streams (see the module docs).
    pub fn prehashed_writer(&self) -> Result<PrehashedWriter, ContentError> {
        let (tmp, out) = IngestFile::open(self.ingest_dir())?;
        Ok(PrehashedWriter {
            store: self.clone(),
            tmp,
            out,
            written: 0,
        })
    }
}

/// A blob being written without hashing; see [`ContentStore::prehashed_writer`].
pub struct PrehashedWriter {
    store: ContentStore,
    tmp: IngestFile,
    out: BufWriter<File>,
    written: u64,
}

impl Write for PrehashedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl PrehashedWriter {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Make the blob durable as `digest`, which the caller has verified the bytes hash to;
    /// `size` is checked against what was written. Dropping the writer instead discards it.
    pub fn commit_verified(self, digest: &Digest, size: u64) -> Result<BlobInfo, ContentError> {
        let PrehashedWriter {
            store,
            tmp,
            out,
            written,
        } = self;
        if written != size {
            return Err(ContentError::SizeMismatch {
                digest: digest.clone(),
                expected: size,
                actual: written,
            });
        }
        tmp.commit(out, &store, digest, size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_under_the_given_digest_and_checks_the_size() {
        let dir = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(dir.path()).unwrap();
        let d = Digest::of_bytes(b"layer bytes");
        let mut w = cs.prehashed_writer().unwrap();
        w.write_all(b"layer bytes").unwrap();
        assert_eq!(w.written(), 11);
        assert_eq!(w.commit_verified(&d, 11).unwrap().digest, d);
        assert_eq!(cs.verify(&d).unwrap(), 11);

        let other = Digest::of_bytes(b"other");
        let mut w = cs.prehashed_writer().unwrap();
        w.write_all(b"oth").unwrap();
        assert!(matches!(
            w.commit_verified(&other, 5),
            Err(ContentError::SizeMismatch { .. })
        ));
        assert!(!cs.exists(&other), "a short blob was stored");
        assert_eq!(std::fs::read_dir(cs.ingest_dir()).unwrap().count(), 0);
    }

    #[test]
    fn a_dropped_writer_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(dir.path()).unwrap();
        let mut w = cs.prehashed_writer().unwrap();
        w.write_all(b"partial").unwrap();
        drop(w);
        assert_eq!(std::fs::read_dir(cs.ingest_dir()).unwrap().count(), 0);
        assert!(cs.list().unwrap().0.is_empty());
    }
}
