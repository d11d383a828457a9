//! Reading layer blobs back: decompression, hashing (the diff id check) and applying run
//! on their own threads, handing 1 MiB chunks along, so unpacking a layer overlaps its
//! decompression.

use std::io;
use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender};

use sha2::{Digest as _, Sha256};

use super::{apply, compress, ApplyOptions, LayerError, CHUNK};
use crate::content::ContentStore;
use crate::digest::Digest;

/// Reads chunks produced by another thread (see `apply_layer_blob`).
pub(crate) struct ChannelReader {
    pub(crate) rx: Receiver<io::Result<Vec<u8>>>,
    pub(crate) cur: Vec<u8>,
    pub(crate) pos: usize,
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
pub(crate) fn read_full(r: &mut impl io::Read, buf: &mut [u8]) -> io::Result<usize> {
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
