//! A blob's temp file in `blobs/ingest/`, shared by both blob writers (hashing and
//! pre-hashed): created and locked on open, flushed, fsynced and renamed into place on
//! commit, so nobody sees a partial blob and `system check --repair` leaves a live writer's
//! file alone.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use tempfile::NamedTempFile;
use tracing::debug;

use crate::content::{io_err, BlobInfo, ContentError, ContentStore};
use crate::digest::Digest;
use crate::fsutil::{self, HeldLock};

/// Write buffer of both writers: large enough that a layer streams in few syscalls.
const BUFFER: usize = 1 << 20;

/// The temp file a writer streams into; dropping it (without [`IngestFile::commit`])
/// deletes the file.
pub(crate) struct IngestFile {
    tmp: NamedTempFile,
    _lock: Option<HeldLock>,
}

impl IngestFile {
    /// Create and lock a temp file in `dir`; returns it with a buffered writer onto it.
    pub(crate) fn open(dir: &Path) -> Result<(IngestFile, BufWriter<File>), ContentError> {
        let tmp = tempfile::Builder::new()
            .prefix("ingest-")
            .tempfile_in(dir)
            .map_err(io_err("create temp file in", dir))?;
        // The lock tells `system check --repair` this temp file belongs to a live writer.
        let dup = tmp
            .as_file()
            .try_clone()
            .map_err(io_err("dup", tmp.path()))?;
        let lock = fsutil::lock_file(dup, true, true).map_err(io_err("lock", tmp.path()))?;
        let file = tmp.reopen().map_err(io_err("reopen", tmp.path()))?;
        let out = BufWriter::with_capacity(BUFFER, file);
        Ok((IngestFile { tmp, _lock: lock }, out))
    }

    pub(crate) fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// Make the bytes written through `out` durable as `digest` in `store`. The caller has
    /// checked digest and size. Two writers of the same content may commit at once: both
    /// renames put identical bytes in place, so both succeed with one blob.
    pub(crate) fn commit(
        self,
        out: BufWriter<File>,
        store: &ContentStore,
        digest: &Digest,
        size: u64,
    ) -> Result<BlobInfo, ContentError> {
        let file = out.into_inner().map_err(|e| ContentError::Io {
            op: "flush",
            path: self.tmp.path().to_path_buf(),
            source: e.into_error(),
        })?;
        let info = BlobInfo {
            digest: digest.clone(),
            size,
        };
        let dest = store.path(digest);
        if dest.is_file() {
            debug!(%digest, "blob already present");
            return Ok(info);
        }
        file.sync_all().map_err(io_err("fsync", self.tmp.path()))?;
        let tmp_path = self.tmp.path().to_path_buf();
        self.tmp.persist(&dest).map_err(|e| ContentError::Io {
            op: "rename into place",
            path: tmp_path,
            source: e.error,
        })?;
        if let Some(dir) = dest.parent() {
            fsutil::fsync_dir(dir).map_err(io_err("fsync", dir))?;
        }
        debug!(%digest, size, "blob committed");
        Ok(info)
    }
}
