//! Downloading blobs: streamed into any writer with digest verification, resumed with `Range`
//! after a dropped connection, several at once with a bound.

use std::future::Future;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use reqwest::header::{CONTENT_RANGE, RANGE};
use reqwest::{Method, StatusCode};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tracing::warn;

use crate::client::{pull_scope, RegistryClient};
use crate::digest::DigestHasher;
use crate::error::RegistryError;
use crate::manifest::Descriptor;
use crate::progress::{Phase, Progress};
use crate::reference::Repository;
use crate::request::Target;
use crate::resolve::{header_str, MAX_DOCUMENT_SIZE};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FetchStats {
    pub bytes: u64,
    /// Times the download continued with a `Range` request after the stream broke.
    pub resumes: u32,
}

impl RegistryClient {
    /// A small blob (an image config) in memory, verified.
    pub async fn fetch_blob_bytes(
        &self,
        repo: &Repository,
        desc: &Descriptor,
    ) -> Result<Bytes, RegistryError> {
        if desc.size > MAX_DOCUMENT_SIZE {
            return Err(RegistryError::TooLarge {
                registry: repo.registry.clone(),
                repository: repo.name.clone(),
                what: format!("blob {}", desc.digest),
                limit: MAX_DOCUMENT_SIZE,
            });
        }
        let mut buf = Vec::with_capacity(usize::try_from(desc.size).unwrap_or(0));
        self.fetch_blob(repo, desc, &mut buf).await?;
        Ok(Bytes::from(buf))
    }

    /// Stream a blob into `writer`, hashing as it goes. A broken stream resumes with `Range`
    /// from the bytes already written. On error the writer may hold partial or unverified data:
    /// callers commit what they wrote only when this returns `Ok`.
    pub async fn fetch_blob<W: AsyncWrite + Unpin + Send>(
        &self,
        repo: &Repository,
        desc: &Descriptor,
        writer: &mut W,
    ) -> Result<FetchStats, RegistryError> {
        let url = format!(
            "{}/v2/{}/blobs/{}",
            self.base_url(repo),
            repo.name,
            desc.digest
        );
        let scopes = [pull_scope(repo)];
        let (registry, repository) = (repo.registry.clone(), repo.name.clone());
        let sink_err = |source| RegistryError::Sink {
            registry: registry.clone(),
            repository: repository.clone(),
            digest: desc.digest.clone(),
            source,
        };
        let size_err = |actual| RegistryError::SizeMismatch {
            registry: registry.clone(),
            repository: repository.clone(),
            digest: desc.digest.clone(),
            expected: desc.size,
            actual,
        };
        let mut hasher = DigestHasher::new();
        let mut resumes = 0u32;
        loop {
            let offset = hasher.len();
            let range = format!("bytes={offset}-");
            let build = |r: reqwest::RequestBuilder| {
                if offset > 0 {
                    r.header(RANGE, range.as_str())
                } else {
                    r
                }
            };
            let resp = self
                .request(repo, &scopes, Method::GET, &url, &build)
                .await?;
            // A server that ignores Range resends from the start: skip what we already have.
            let mut skip = match resp.status() {
                StatusCode::OK => offset,
                StatusCode::PARTIAL_CONTENT if content_range_start(&resp) == Some(offset) => 0,
                StatusCode::PARTIAL_CONTENT => {
                    return Err(RegistryError::Protocol {
                        registry: registry.clone(),
                        detail: format!(
                            "asked for {url} from byte {offset} but got Content-Range {:?}",
                            header_str(&resp, CONTENT_RANGE.as_str())
                        ),
                    });
                }
                _ => {
                    return Err(self
                        .unexpected(repo, &Method::GET, &url, Target::Blob(&desc.digest), resp)
                        .await)
                }
            };
            let mut stream = resp.bytes_stream();
            let mut broken = None;
            while let Some(chunk) = stream.next().await {
                let mut chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        broken = Some(e);
                        break;
                    }
                };
                if skip > 0 {
                    let n = skip.min(chunk.len() as u64);
                    skip -= n;
                    chunk = chunk.slice(usize::try_from(n).unwrap_or(chunk.len())..);
                }
                if hasher.len() + chunk.len() as u64 > desc.size {
                    return Err(size_err(hasher.len() + chunk.len() as u64));
                }
                hasher.update(&chunk);
                writer.write_all(&chunk).await.map_err(sink_err)?;
                self.report(Progress {
                    digest: desc.digest.clone(),
                    phase: Phase::Downloading,
                    done: hasher.len(),
                    total: desc.size,
                });
            }
            let short = hasher.len() < desc.size;
            match broken {
                Some(e) if resumes < self.inner.config.max_resumes => {
                    resumes += 1;
                    warn!(registry = %registry, digest = %desc.digest, at = hasher.len(), error = %e, "blob download broke off, resuming");
                }
                Some(source) => {
                    return Err(RegistryError::Unreachable {
                        registry: registry.clone(),
                        url,
                        attempts: resumes + 1,
                        source,
                    })
                }
                // Without Content-Length a cut connection can look like a clean end.
                None if short
                    && resumes < self.inner.config.max_resumes
                    && hasher.len() > offset =>
                {
                    resumes += 1;
                    warn!(registry = %registry, digest = %desc.digest, at = hasher.len(), "blob stream ended early, resuming");
                }
                None if short => return Err(size_err(hasher.len())),
                None => break,
            }
        }
        writer.flush().await.map_err(sink_err)?;
        let bytes = hasher.len();
        let actual = hasher.finish();
        if actual != desc.digest {
            return Err(RegistryError::DigestMismatch {
                registry,
                repository,
                what: format!("blob {}", desc.digest),
                expected: desc.digest.to_string(),
                actual,
            });
        }
        self.report(Progress {
            digest: desc.digest.clone(),
            phase: Phase::Done,
            done: bytes,
            total: desc.size,
        });
        Ok(FetchStats { bytes, resumes })
    }

    /// Download a blob to `dest` through a temporary file beside it, renamed into place only
    /// once verified; on any failure nothing is left at `dest` or beside it.
    pub async fn fetch_blob_to_path(
        &self,
        repo: &Repository,
        desc: &Descriptor,
        dest: &Path,
    ) -> Result<FetchStats, RegistryError> {
        let tmp = temp_path(dest);
        let sink_err = |source| RegistryError::Sink {
            registry: repo.registry.clone(),
            repository: repo.name.clone(),
            digest: desc.digest.clone(),
            source,
        };
        let result = async {
            let mut file = tokio::fs::File::create(&tmp).await.map_err(sink_err)?;
            let stats = self.fetch_blob(repo, desc, &mut file).await?;
            file.sync_all().await.map_err(sink_err)?;
            tokio::fs::rename(&tmp, dest).await.map_err(sink_err)?;
            Ok(stats)
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result
    }

    /// Fetch many blobs, at most `max_parallel` at once. `open` gives the writer for each blob,
    /// or `None` to skip one the caller already has; `done` is called with each verified
    /// writer, so the caller can commit it. Stops at the first error.
    pub async fn fetch_blobs<W, O, OFut, D, DFut>(
        &self,
        repo: &Repository,
        descs: &[Descriptor],
        open: O,
        done: D,
    ) -> Result<Vec<FetchStats>, RegistryError>
    where
        W: AsyncWrite + Unpin + Send,
        O: Fn(&Descriptor) -> OFut,
        OFut: Future<Output = Result<Option<W>, std::io::Error>>,
        D: Fn(&Descriptor, W) -> DFut,
        DFut: Future<Output = Result<(), std::io::Error>>,
    {
        let parallel = self.inner.config.max_parallel.max(1);
        futures_util::stream::iter(descs.iter().map(|desc| {
            let (open, done) = (&open, &done);
            async move {
                let sink_err = |source| RegistryError::Sink {
                    registry: repo.registry.clone(),
                    repository: repo.name.clone(),
                    digest: desc.digest.clone(),
                    source,
                };
                let Some(mut writer) = open(desc).await.map_err(sink_err)? else {
                    self.report(Progress {
                        digest: desc.digest.clone(),
                        phase: Phase::Skipped,
                        done: desc.size,
                        total: desc.size,
                    });
                    return Ok(FetchStats::default());
                };
                let stats = self.fetch_blob(repo, desc, &mut writer).await?;
                done(desc, writer).await.map_err(sink_err)?;
                Ok(stats)
            }
        }))
        .buffered(parallel)
        .try_collect()
        .await
    }
}

fn temp_path(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dest.with_file_name(format!(".{name}.{}.partial", std::process::id()))
}

/// The first byte of `Content-Range: bytes <start>-<end>/<total>`.
fn content_range_start(resp: &reqwest::Response) -> Option<u64> {
    let v = header_str(resp, CONTENT_RANGE.as_str())?;
    v.trim()
        .strip_prefix("bytes ")?
        .split('-')
        .next()?
        .trim()
        .parse()
        .ok()
}
