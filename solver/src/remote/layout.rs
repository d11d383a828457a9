//! `type=local` caches: an OCI image layout directory (`oci-layout`, `index.json`,
//! `blobs/sha256/…`), as BuildKit's local cache. `index.json` names the cache manifest by a
//! tag (`org.opencontainers.image.ref.name`, default `latest`); blobs already in the
//! directory are not written again, and blobs are hard-linked from the store when they
//! share a filesystem.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use kiln_cache::image::spec::{media, Descriptor, Index, Manifest as OciManifest};
use kiln_cache::{Digest, Store};

use super::format::{self, CacheConfig, CacheEntry, CACHE_CONFIG_MEDIA_TYPE};
use super::{BlobFetcher, ImportedCache, RemoteError};
use crate::local::Layer;

/// The annotation an OCI layout's index names its manifests by.
const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Cache documents are small; a larger one is not a cache config.
const MAX_DOCUMENT: u64 = 16 << 20;

fn io(cache: &Path, op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RemoteError {
    let (cache, path) = (cache.display().to_string(), path.to_path_buf());
    move |source| RemoteError::Io {
        cache,
        op,
        path,
        source,
    }
}

fn blob_path(dir: &Path, d: &Digest) -> PathBuf {
    dir.join("blobs/sha256").join(d.hex())
}

fn unusable(dir: &Path, detail: String) -> RemoteError {
    RemoteError::Unusable {
        cache: dir.display().to_string(),
        detail,
    }
}

/// Write `bytes` as a blob of the layout unless present.
fn put_blob(dir: &Path, bytes: &[u8]) -> Result<Descriptor, RemoteError> {
    let digest = Digest::of_bytes(bytes);
    let path = blob_path(dir, &digest);
    if !path.exists() {
        write_atomic(dir, &path, bytes)?;
    }
    Ok(Descriptor::new("", digest, bytes.len() as u64))
}

fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), RemoteError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(io(dir, "writing", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io(dir, "renaming into place", path))
}

/// Export `entries` into the layout at `dir` under `tag`; returns the manifest digest.
pub fn export(
    store: &Store,
    dir: &Path,
    tag: &str,
    entries: &[CacheEntry],
) -> Result<Digest, RemoteError> {
    let blobs_dir = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs_dir).map_err(io(dir, "creating", &blobs_dir))?;
    let (config, blobs) = format::encode(entries);
    for l in &blobs {
        let dest = blob_path(dir, &l.blob);
        if dest.exists() {
            continue;
        }
        let src = store.content().path(&l.blob);
        let tmp = dest.with_extension("tmp");
        let _ = std::fs::remove_file(&tmp);
        // Store blobs are immutable, so sharing the inode is safe and instant.
        if std::fs::hard_link(&src, &tmp).is_err() {
            std::fs::copy(&src, &tmp).map_err(io(dir, "copying a layer blob to", &tmp))?;
        }
        std::fs::rename(&tmp, &dest).map_err(io(dir, "renaming into place", &dest))?;
    }
    let config_bytes = serde_json::to_vec(&config)
        .map_err(|e| unusable(dir, format!("encoding the cache config: {e}")))?;
    let mut config_desc = put_blob(dir, &config_bytes)?;
    config_desc.media_type = CACHE_CONFIG_MEDIA_TYPE.into();
    let manifest = OciManifest {
        schema_version: 2,
        media_type: Some(media::OCI_MANIFEST.into()),
        config: config_desc,
        layers: format::layer_descriptors(&blobs),
        annotations: Default::default(),
        extra: Default::default(),
    };
    let bytes = serde_json::to_vec(&manifest)
        .map_err(|e| unusable(dir, format!("encoding the cache manifest: {e}")))?;
    let mut desc = put_blob(dir, &bytes)?;
    desc.media_type = media::OCI_MANIFEST.into();
    desc.annotations.insert(REF_NAME.into(), tag.into());
    let mut index = read_index(dir)?.unwrap_or(Index {
        schema_version: 2,
        media_type: Some(media::OCI_INDEX.into()),
        manifests: Vec::new(),
        annotations: Default::default(),
        extra: Default::default(),
    });
    index
        .manifests
        .retain(|m| m.annotations.get(REF_NAME).map(String::as_str) != Some(tag));
    index.manifests.push(desc.clone());
    let index_bytes = serde_json::to_vec(&index)
        .map_err(|e| unusable(dir, format!("encoding index.json: {e}")))?;
    write_atomic(
        dir,
        &dir.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    write_atomic(dir, &dir.join("index.json"), &index_bytes)?;
    Ok(desc.digest)
}

fn read_index(dir: &Path) -> Result<Option<Index>, RemoteError> {
    let path = dir.join("index.json");
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(dir, "reading", &path)(e)),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| unusable(dir, format!("index.json is not an OCI index: {e}")))
}

fn read_blob(dir: &Path, d: &Digest) -> Result<Vec<u8>, RemoteError> {
    let path = blob_path(dir, d);
    let len = std::fs::metadata(&path)
        .map_err(io(dir, "reading", &path))?
        .len();
    if len > MAX_DOCUMENT {
        return Err(unusable(
            dir,
            format!("document {d} is {len} bytes, too large"),
        ));
    }
    let bytes = std::fs::read(&path).map_err(io(dir, "reading", &path))?;
    if Digest::of_bytes(&bytes) != *d {
        return Err(unusable(
            dir,
            format!("blob {d} does not match its digest; the directory is corrupt"),
        ));
    }
    Ok(bytes)
}

/// Read the cache tagged `tag` in `dir`; `Ok(None)` when the directory has no cache yet.
pub fn import(dir: &Path, tag: &str) -> Result<Option<ImportedCache>, RemoteError> {
    let Some(index) = read_index(dir)? else {
        return Ok(None);
    };
    let Some(desc) = index
        .manifests
        .iter()
        .find(|m| m.annotations.get(REF_NAME).map(String::as_str) == Some(tag))
    else {
        return Ok(None);
    };
    let manifest: OciManifest =
        serde_json::from_slice(&read_blob(dir, &desc.digest)?).map_err(|e| {
            unusable(
                dir,
                format!("manifest {} is not an OCI manifest: {e}", desc.digest),
            )
        })?;
    if manifest.config.media_type != CACHE_CONFIG_MEDIA_TYPE {
        return Err(unusable(
            dir,
            format!(
                "manifest {} has config type {}, not a build cache ({CACHE_CONFIG_MEDIA_TYPE})",
                desc.digest, manifest.config.media_type
            ),
        ));
    }
    let config: CacheConfig = serde_json::from_slice(&read_blob(dir, &manifest.config.digest)?)
        .map_err(|e| RemoteError::Format {
            cache: dir.display().to_string(),
            source: e.into(),
        })?;
    let records =
        format::decode(&config, &manifest.layers).map_err(|source| RemoteError::Format {
            cache: dir.display().to_string(),
            source,
        })?;
    Ok(Some(ImportedCache::new(
        records,
        Box::new(LayoutFetcher {
            dir: dir.to_path_buf(),
            name: dir.display().to_string(),
        }),
    )))
}

struct LayoutFetcher {
    dir: PathBuf,
    name: String,
}

#[async_trait]
impl BlobFetcher for LayoutFetcher {
    async fn fetch(
        &self,
        store: &Store,
        layer: &Layer,
        on_bytes: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<(), RemoteError> {
        let path = blob_path(&self.dir, &layer.blob);
        let dir = self.dir.clone();
        crate::local::blocking(|| {
            let f = std::fs::File::open(&path).map_err(io(&dir, "opening", &path))?;
            let reader = CountingReader {
                inner: std::io::BufReader::new(f),
                read: 0,
                on_bytes,
            };
            // The store hashes as it writes: that is the one verification of a local copy.
            store
                .content()
                .ingest(reader, Some(&layer.blob))
                .map_err(|e| RemoteError::Store {
                    cache: self.name.clone(),
                    source: e.into(),
                })?;
            Ok(())
        })
    }

    fn name(&self) -> &str {
        &self.name
    }
}

/// Tells `on_bytes` how much has been read so far.
struct CountingReader<'a, R> {
    inner: R,
    read: u64,
    on_bytes: &'a (dyn Fn(u64) + Send + Sync),
}

impl<R: std::io::Read> std::io::Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        (self.on_bytes)(self.read);
        Ok(n)
    }
}
