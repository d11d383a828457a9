//! Export-time layer conversion: the compression an output asks for (`compression=`,
//! `compression-level=`, `force-compression=`) and SOURCE_DATE_EPOCH's clamp of the mtimes
//! in the layers a build added. Cached layers stay as built (gzip, real mtimes), so one
//! cache serves every output; a converted layer is remembered by its source blob and the
//! conversion, so repeating an export does not recompress.
//!
//! Which layers change (BuildKit's rules): the build's own layers take the requested
//! compression and level, and the epoch clamp; base image layers keep their blobs unless
//! `force-compression=true`.
//!
//! API: [`LayerOptions`], [`convert_chain`], [`ConvertError`].

use std::io::{self, Write};
use std::path::PathBuf;

use kiln_cache::layer::compress::decompress;
use kiln_cache::layer::{write_layer_with, Compression, LayerError};
use kiln_cache::lease::Lease;
use kiln_cache::{Digest, Store, StoreError};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::chain::{Chain, Layer};
use super::clamp::clamp_tar;

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("converting layer {blob}: {source}")]
    Layer {
        blob: Digest,
        #[source]
        source: LayerError,
    },
    #[error("converting layer {blob}: {op}: {source}")]
    Io {
        blob: Digest,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How an output wants its layers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LayerOptions {
    /// `compression=`; `None` keeps what the layers have.
    pub compression: Option<Compression>,
    /// `compression-level=` (gzip 0-9, zstd 1-22).
    pub level: Option<i32>,
    /// `force-compression=true`: base image layers are converted too.
    pub force: bool,
    /// Clamp mtimes in the build's layers to this (SOURCE_DATE_EPOCH).
    pub source_date_epoch: Option<i64>,
}

/// The compression a layer's media type says it has.
pub fn compression_of(media_type: &str) -> Compression {
    if media_type.contains("zstd") {
        Compression::Zstd
    } else if media_type.ends_with("gzip") || media_type.ends_with("+gzip") {
        Compression::Gzip
    } else {
        Compression::None
    }
}

/// The conversion of one layer, also the name of its memo.
#[derive(Debug, Serialize, PartialEq, Eq)]
struct Plan {
    source: String,
    compression: &'static str,
    level: Option<i32>,
    clamp: Option<i64>,
}

fn name(c: Compression) -> &'static str {
    match c {
        Compression::None => "none",
        Compression::Gzip => "gzip",
        Compression::Zstd => "zstd",
    }
}

/// `chain` as `opts` wants it; the first `base_len` layers are the base image's.
pub fn convert_chain(
    store: &Store,
    lease: Option<&Lease>,
    chain: &Chain,
    base_len: usize,
    opts: &LayerOptions,
) -> Result<Chain, ConvertError> {
    let mut layers = Vec::with_capacity(chain.layers.len());
    for (i, layer) in chain.layers.iter().enumerate() {
        let own = i >= base_len;
        let current = compression_of(&layer.media_type);
        let applies = own || opts.force;
        let target = match opts.compression {
            Some(c) if applies => c,
            _ => current,
        };
        let level = opts.level.filter(|_| applies);
        let clamp = opts.source_date_epoch.filter(|_| own);
        if target == current && level.is_none() && clamp.is_none() {
            layers.push(layer.clone());
            continue;
        }
        let plan = Plan {
            source: layer.blob.to_string(),
            compression: name(target),
            level,
            clamp,
        };
        layers.push(convert_layer(store, lease, layer, target, &plan)?);
    }
    Ok(Chain { layers })
}

fn memo_path(store: &Store, plan: &Plan) -> PathBuf {
    let id = serde_json::to_vec(plan).unwrap_or_default();
    store
        .root()
        .join("build-state/converted-layers")
        .join(format!("{}.json", hex::encode(Sha256::digest(&id))))
}

fn convert_layer(
    store: &Store,
    lease: Option<&Lease>,
    layer: &Layer,
    target: Compression,
    plan: &Plan,
) -> Result<Layer, ConvertError> {
    let memo = memo_path(store, plan);
    let _guard = store.write_guard()?;
    if let Some(done) = std::fs::read(&memo)
        .ok()
        .and_then(|b| serde_json::from_slice::<Layer>(&b).ok())
        .filter(|l| store.content().exists(&l.blob))
    {
        if let Some(l) = lease {
            store.lease_blob(l, &done.blob)?;
        }
        // The memo is shared by every chain with this source blob: the time is this one's.
        return Ok(Layer {
            created: layer.created,
            ..done
        });
    }
    let blob = layer.blob.clone();
    let io_err = |op: &'static str| {
        let blob = blob.clone();
        move |source: io::Error| ConvertError::Io { blob, op, source }
    };
    let file = store
        .content()
        .open_blob(&layer.blob)
        .map_err(StoreError::from)?;
    // Writes the uncompressed (clamped) tar into `w`.
    let produce = |w: &mut dyn Write| -> io::Result<()> {
        let mut r = decompress(file)?;
        match plan.clamp {
            Some(epoch) => clamp_tar(&mut r, w, epoch).map_err(io::Error::other),
            None => io::copy(&mut r, w).map(drop),
        }
    };
    let (digest, diff_id, size) = match plan.level {
        None => {
            let b = write_layer_with(store.content(), target, |w| {
                produce(w).map_err(|source| LayerError::Read {
                    blob: blob.clone(),
                    source,
                })
            })
            .map_err(|source| ConvertError::Layer {
                blob: blob.clone(),
                source,
            })?;
            (b.digest, b.diff_id, b.size)
        }
        Some(level) => {
            encode_at_level(store, target, level, produce).map_err(io_err("encoding"))?
        }
    };
    let media_type = target.oci_media_type().to_string();
    store.record_layer_blob(&diff_id, &digest, &media_type)?;
    if let Some(l) = lease {
        store.lease_blob(l, &digest)?;
    }
    let out = Layer {
        diff_id,
        blob: digest,
        size,
        media_type,
        // A converted layer is the same step's result: it keeps the step's time.
        created: layer.created,
    };
    if let Err(e) = remember(&memo, &out) {
        // Only an optimisation: the next export converts again.
        tracing::warn!("remembering converted layer {}: {e}", out.blob);
    }
    tracing::debug!(from = %layer.blob, to = %out.blob, compression = plan.compression, "converted layer");
    Ok(out)
}

fn remember(path: &std::path::Path, layer: &Layer) -> io::Result<()> {
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(&serde_json::to_vec(layer).map_err(io::Error::other)?)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Hashes what passes through (the uncompressed tar, for the diff id).
struct Tee<W> {
    inner: W,
    sha: Sha256,
}

impl<W: Write> Write for Tee<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Compress at an explicit level (single stream; the shared writer's parallel gzip has a
/// fixed level so that digests never depend on it).
fn encode_at_level(
    store: &Store,
    target: Compression,
    level: i32,
    produce: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<(Digest, Digest, u64)> {
    let blob = store.content().writer().map_err(io::Error::other)?;
    let (blob, sha) = match target {
        Compression::Gzip => {
            let enc = flate2::GzBuilder::new()
                .mtime(0)
                .write(blob, flate2::Compression::new(level.clamp(0, 9) as u32));
            let mut tee = Tee {
                inner: enc,
                sha: Sha256::new(),
            };
            produce(&mut tee)?;
            (tee.inner.finish()?, tee.sha)
        }
        Compression::Zstd => {
            let enc = zstd::stream::write::Encoder::new(blob, level.clamp(1, 22))?;
            let mut tee = Tee {
                inner: enc,
                sha: Sha256::new(),
            };
            produce(&mut tee)?;
            (tee.inner.finish()?, tee.sha)
        }
        Compression::None => {
            let mut tee = Tee {
                inner: blob,
                sha: Sha256::new(),
            };
            produce(&mut tee)?;
            (tee.inner, tee.sha)
        }
    };
    let info = blob.commit(None).map_err(io::Error::other)?;
    let diff_id = Digest::from_sha256(sha.finalize().into());
    Ok((info.digest, diff_id, info.size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_name_their_compression() {
        assert_eq!(
            compression_of("application/vnd.oci.image.layer.v1.tar+zstd"),
            Compression::Zstd
        );
        assert_eq!(
            compression_of("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Compression::Gzip
        );
        assert_eq!(
            compression_of("application/vnd.oci.image.layer.v1.tar"),
            Compression::None
        );
    }
}
