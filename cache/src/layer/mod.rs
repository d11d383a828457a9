//! Layers: computing them from directories (`diff`), writing deterministic tar (`tarwrite`),
//! compressing and hashing in one streaming pass over both cores (here), and applying them
//! onto snapshot directories (`apply`).

pub mod apply;
pub mod compress;
pub mod diff;
pub mod entry;
pub mod tarread;
pub mod tarwrite;
mod unpack;

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
pub use unpack::apply_layer_blob;

use unpack::ChannelReader;

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
    /// A second consumer of the uncompressed stream (see [`write_layer_and_apply`]);
    /// dropped when it stops early, which never fails the layer.
    tee: Option<SyncSender<io::Result<Vec<u8>>>>,
    sha: Sha256,
    crc: crc32fast::Hasher,
    len: u64,
}

impl ChunkWriter {
    fn send(&mut self, chunk: Vec<u8>) -> io::Result<()> {
        if let Some(t) = &self.tee {
            if t.send(Ok(chunk.clone())).is_err() {
                self.tee = None;
            }
        }
        self.tx
            .send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "layer compressor stopped"))
    }
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
                self.send(full)?;
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
    write_layer_teed(store, compression, produce, None)
}

/// [`write_layer`], and the same tar stream applied onto `dest` at the same time: for a
/// layer whose files a later step needs, unpacking overlaps compression instead of
/// following it. The layer is committed even when applying fails; the second result says
/// whether `dest` holds the layer.
pub fn write_layer_and_apply(
    store: &ContentStore,
    entries: &[Entry],
    tar_opts: TarOptions,
    compression: Compression,
    dest: &Path,
    opts: ApplyOptions,
) -> Result<(LayerBlob, Result<(), ApplyError>), LayerError> {
    let (tee_tx, tee_rx) = mpsc::sync_channel(4);
    std::thread::scope(|s| {
        let applier = s.spawn(move || {
            let reader = ChannelReader {
                rx: tee_rx,
                cur: Vec::new(),
                pos: 0,
            };
            apply::apply_tar(reader, dest, opts).map(drop)
        });
        let blob = write_layer_teed(
            store,
            compression,
            |w| tarwrite::write_tar(w, entries, &tar_opts),
            Some(tee_tx),
        );
        let applied = applier.join().unwrap_or(Err(ApplyError::Panicked));
        Ok((blob?, applied))
    })
}

fn write_layer_teed<F, E>(
    store: &ContentStore,
    compression: Compression,
    produce: F,
    tee: Option<SyncSender<io::Result<Vec<u8>>>>,
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
            let mut w = ChunkWriter { buf: Vec::with_capacity(CHUNK), tx, tee, sha: Sha256::new(), crc: crc32fast::Hasher::new(), len: 0 };
            produce(&mut w).map_err(Into::into)?;
            let rest = std::mem::take(&mut w.buf);
            if !rest.is_empty() {
                w.send(rest).map_err(|_| LayerError::Thread("layer compressor stopped".into()))?;
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
