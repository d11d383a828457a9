//! Layers: computing them from directories (`diff`), writing deterministic tar (`tarwrite`),
//! compressing and hashing in one streaming pass over both cores (here), and applying them
//! onto snapshot directories (`apply`).

pub mod apply;
pub mod compress;
pub mod diff;
pub mod entry;
pub mod tarread;
pub mod tarwrite;

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use sha2::{Digest as _, Sha256};
use tracing::debug;

pub use apply::{ApplyError, ApplyMode, ApplyOptions};
pub use compress::Compression;
pub use diff::DiffError;
pub use entry::{Entry, EntryKind};
pub use tarwrite::{TarOptions, TarWriteError};

use crate::content::{ContentError, ContentStore};
use crate::digest::Digest;

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error(transparent)]
    Tar(#[from] TarWriteError),
    #[error(transparent)]
    Diff(#[from] DiffError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error("layer {blob}: uncompressed content hashes to {actual}, but the image says its diff id is {expected}; the blob is corrupt or belongs to another image")]
    DiffIdMismatch {
        blob: Digest,
        expected: Digest,
        actual: Digest,
    },
    #[error("compressing layer: {0}")]
    Compress(#[source] io::Error),
    #[error("reading layer {blob}: {source}")]
    Read { blob: Digest, source: io::Error },
    #[error("layer pipeline thread failed: {0}")]
    Thread(String),
}

/// A layer blob committed to the content store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerBlob {
    /// Digest of the stored (compressed) bytes.
    pub digest: Digest,
    /// Digest of the uncompressed tar: the image config's `rootfs.diff_ids` entry.
    pub diff_id: Digest,
    pub size: u64,
    pub uncompressed_size: u64,
    pub compression: Compression,
    pub media_type: String,
}

const CHUNK: usize = compress::GZIP_BLOCK;

/// Collects the uncompressed stream into fixed-size chunks for the compressing side, hashing
/// (sha256 for the diff id, crc32 for gzip's trailer) as bytes pass.
struct ChunkWriter {
    buf: Vec<u8>,
    tx: SyncSender<Vec<u8>>,
    sha: Sha256,
    crc: crc32fast::Hasher,
    len: u64,
}

impl Write for ChunkWriter {
    fn write(&mut self, mut data: &[u8]) -> io::Result<usize> {
        let n = data.len();
        self.sha.update(data);
        self.crc.update(data);
        self.len += n as u64;
        while !data.is_empty() {
            let take = (CHUNK - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == CHUNK {
                let full = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
                self.tx.send(full).map_err(|_| {
                    io::Error::new(io::ErrorKind::BrokenPipe, "layer compressor stopped")
                })?;
            }
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct Produced {
    diff_id: Digest,
    crc: u32,
    len: u64,
}

/// Write a layer produced by `produce` (which writes the uncompressed tar) into the store,
/// computing diff id and blob digest in the same pass. The producer runs on its own thread;
/// compression runs on the others.
pub fn write_layer_with<F, E>(
    store: &ContentStore,
    compression: Compression,
    produce: F,
) -> Result<LayerBlob, LayerError>
where
    F: FnOnce(&mut dyn Write) -> Result<(), E> + Send,
    E: Into<LayerError> + Send,
{
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(workers * 2);
    let mut blob = store.writer()?;
    std::thread::scope(|s| {
        let producer = s.spawn(move || -> Result<Produced, LayerError> {
            let mut w = ChunkWriter { buf: Vec::with_capacity(CHUNK), tx, sha: Sha256::new(), crc: crc32fast::Hasher::new(), len: 0 };
            produce(&mut w).map_err(Into::into)?;
            let rest = std::mem::take(&mut w.buf);
            if !rest.is_empty() {
                w.tx.send(rest).map_err(|_| LayerError::Thread("layer compressor stopped".into()))?;
            }
            Ok(Produced { diff_id: Digest::from_sha256(w.sha.finalize().into()), crc: w.crc.finalize(), len: w.len })
        });
        let consumed = match compression {
            Compression::Gzip => gzip_parallel(s, rx, &mut blob, workers),
            Compression::Zstd => zstd_stream(rx, &mut blob, workers),
            Compression::None => rx.iter().try_for_each(|c| blob.write_all(&c)).map_err(LayerError::Compress),
        };
        let produced = producer.join().map_err(|_| LayerError::Thread("layer producer panicked".into()))?;
        // Report the producer's error first: a consumer failure is usually its echo.
        let produced = produced?;
        consumed?;
        if compression == Compression::Gzip {
            blob.write_all(&produced.crc.to_le_bytes()).map_err(LayerError::Compress)?;
            blob.write_all(&(produced.len as u32).to_le_bytes()).map_err(LayerError::Compress)?;
        }
        Ok::<_, LayerError>(produced)
    })
    .and_then(|produced| {
        let info = blob.commit(None)?;
        debug!(digest = %info.digest, diff_id = %produced.diff_id, size = info.size, "layer written");
        Ok(LayerBlob {
            digest: info.digest,
            diff_id: produced.diff_id,
            size: info.size,
            uncompressed_size: produced.len,
            compression,
            media_type: compression.oci_media_type().to_string(),
        })
    })
}

fn gzip_parallel<'s>(
    s: &'s std::thread::Scope<'s, '_>,
    rx: Receiver<Vec<u8>>,
    out: &mut impl Write,
    workers: usize,
) -> Result<(), LayerError> {
    let (job_tx, job_rx) = mpsc::sync_channel::<(usize, Vec<u8>, bool)>(workers);
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (res_tx, res_rx) = mpsc::channel::<(usize, io::Result<Vec<u8>>)>();
    for _ in 0..workers {
        let (job_rx, res_tx) = (Arc::clone(&job_rx), res_tx.clone());
        s.spawn(move || loop {
            let job = job_rx.lock().map(|r| r.recv());
            let Ok(Ok((idx, data, last))) = job else {
                break;
            };
            if res_tx
                .send((
                    idx,
                    compress::deflate_block(&data, last, compress::GZIP_LEVEL),
                ))
                .is_err()
            {
                break;
            }
        });
    }
    drop(res_tx);
    // The dispatcher holds one chunk back: only when the stream ends is the last one known.
    s.spawn(move || {
        let mut held: Option<Vec<u8>> = None;
        let mut idx = 0;
        for chunk in rx {
            if let Some(prev) = held.replace(chunk) {
                if job_tx.send((idx, prev, false)).is_err() {
                    return;
                }
                idx += 1;
            }
        }
        let _ = job_tx.send((idx, held.unwrap_or_default(), true));
    });
    out.write_all(&compress::GZIP_HEADER)
        .map_err(LayerError::Compress)?;
    let mut pending = BTreeMap::new();
    let mut next = 0;
    for (idx, res) in res_rx {
        pending.insert(idx, res);
        while let Some(block) = pending.remove(&next) {
            out.write_all(&block.map_err(LayerError::Compress)?)
                .map_err(LayerError::Compress)?;
            next += 1;
        }
    }
    if !pending.is_empty() {
        return Err(LayerError::Thread(
            "gzip blocks missing from the pipeline".into(),
        ));
    }
    Ok(())
}

fn zstd_stream(
    rx: Receiver<Vec<u8>>,
    out: &mut impl Write,
    workers: usize,
) -> Result<(), LayerError> {
    let mut enc = zstd::stream::write::Encoder::new(out, 3).map_err(LayerError::Compress)?;
    // zstd's multithreaded output does not depend on the worker count, so digests stay stable.
    enc.multithread(workers.max(2) as u32)
        .map_err(LayerError::Compress)?;
    for chunk in rx {
        enc.write_all(&chunk).map_err(LayerError::Compress)?;
    }
    enc.finish().map_err(LayerError::Compress)?;
    Ok(())
}

/// Create a layer from entries (see `diff`), as deterministic tar, compressed.
pub fn write_layer(
    store: &ContentStore,
    entries: &[Entry],
    tar_opts: TarOptions,
    compression: Compression,
) -> Result<LayerBlob, LayerError> {
    write_layer_with(store, compression, |w| {
        tarwrite::write_tar(w, entries, &tar_opts)
    })
}

/// Reads chunks produced by another thread (see `apply_layer_blob`).
struct ChannelReader {
    rx: Receiver<io::Result<Vec<u8>>>,
    cur: Vec<u8>,
    pos: usize,
}

impl io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.cur = chunk?;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Reads until `buf` is full or the stream ends and returns how much it read: sources hand
/// out small pieces (inflate, tar entries), and the next stage works best on full buffers.
fn read_full(r: &mut impl io::Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Decompress on a helper thread, handing 1 MiB chunks on.
fn decompress_ahead(f: std::fs::File, tx: SyncSender<io::Result<Vec<u8>>>) {
    let mut r = match compress::decompress(f) {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.send(Err(e));
            return;
        }
    };
    loop {
        let mut buf = vec![0u8; CHUNK];
        let n = match read_full(&mut r, &mut buf) {
            Ok(n) => n,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        buf.truncate(n);
        if n == 0 || tx.send(Ok(buf)).is_err() {
            return;
        }
    }
}

/// Hash the decompressed stream on its own thread (hashing beside inflate would slow the
/// bottleneck) and pass chunks to the applier; keep hashing after the applier stops, since
/// the diff id covers the bytes after the tar end marker too.
fn hash_ahead(
    rx: Receiver<io::Result<Vec<u8>>>,
    tx: SyncSender<io::Result<Vec<u8>>>,
) -> io::Result<Digest> {
    let mut sha = Sha256::new();
    let mut forward = Some(tx);
    for chunk in rx {
        match chunk {
            Ok(c) => {
                sha.update(&c);
                if forward.as_ref().is_some_and(|t| t.send(Ok(c)).is_err()) {
                    forward = None;
                }
            }
            Err(e) => {
                if let Some(t) = &forward {
                    let _ = t.send(Err(io::Error::new(e.kind(), e.to_string())));
                }
                return Err(e);
            }
        }
    }
    Ok(Digest::from_sha256(sha.finalize().into()))
}

/// Apply the layer blob `blob` onto `dest`, checking its uncompressed digest against `diff_id`.
/// Decompression and hashing run on helper threads so applying overlaps with them.
pub fn apply_layer_blob(
    store: &ContentStore,
    blob: &Digest,
    diff_id: Option<&Digest>,
    dest: &Path,
    opts: ApplyOptions,
) -> Result<(), LayerError> {
    let rerr = |source| LayerError::Read {
        blob: blob.clone(),
        source,
    };
    let f = store.open_blob(blob)?;
    let (raw_tx, raw_rx) = mpsc::sync_channel(4);
    let (tx, rx) = mpsc::sync_channel(4);
    let (applied, actual) = std::thread::scope(|s| {
        s.spawn(move || decompress_ahead(f, raw_tx));
        let h = s.spawn(move || hash_ahead(raw_rx, tx));
        // Dropping the archive (and its receiver) unblocks the helper if apply stopped early.
        let applied = apply::apply_tar(
            ChannelReader {
                rx,
                cur: Vec::new(),
                pos: 0,
            },
            dest,
            opts,
        )
        .map(drop);
        let actual = h
            .join()
            .map_err(|_| LayerError::Thread("layer decompressor panicked".into()));
        (applied, actual)
    });
    let actual = actual?.map_err(rerr);
    // A read error surfaces in both; report the apply error first only if reading was fine.
    let actual = match (applied, actual) {
        (Err(e), Ok(_)) => return Err(e.into()),
        (_, Err(e)) => return Err(e),
        (Ok(()), Ok(d)) => d,
    };
    if let Some(expected) = diff_id {
        if &actual != expected {
            return Err(LayerError::DiffIdMismatch {
                blob: blob.clone(),
                expected: expected.clone(),
                actual,
            });
        }
    }
    Ok(())
}
