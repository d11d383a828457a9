//! The mechanics of one blob upload session: opening it (or mounting), sending the body in
//! one PUT or in PATCH chunks (repositioning after a 416), and closing it with the digest.

use bytes::Bytes;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION, RANGE};
use reqwest::{Method, Response, StatusCode};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tracing::debug;

use crate::client::RegistryClient;
use crate::digest::Digest;
use crate::error::RegistryError;
use crate::manifest::Descriptor;
use crate::progress::{Phase, Progress};
use crate::push::BlobSource;
use crate::reference::Repository;
use crate::request::Target;

const OCTET_STREAM: &str = "application/octet-stream";

impl RegistryClient {
    /// Open an upload session (or mount, answered with `None`); returns its URL.
    pub(crate) async fn start_upload(
        &self,
        repo: &Repository,
        scopes: &[String],
        digest: &Digest,
        mount_from: Option<&Repository>,
    ) -> Result<Option<String>, RegistryError> {
        let base = format!("{}/v2/{}/blobs/uploads/", self.base_url(repo), repo.name);
        let url = match mount_from {
            Some(from) => format!("{base}?mount={digest}&from={}", from.name),
            None => base,
        };
        let resp = self
            .request(repo, scopes, Method::POST, &url, &|r| {
                r.header(CONTENT_LENGTH, "0")
            })
            .await?;
        match resp.status() {
            StatusCode::CREATED => Ok(None),
            StatusCode::ACCEPTED => self.location(repo, &resp).map(Some),
            _ => Err(self
                .unexpected(repo, &Method::POST, &url, Target::Upload, resp)
                .await),
        }
    }

    pub(crate) async fn upload_chunks(
        &self,
        repo: &Repository,
        scopes: &[String],
        mut location: String,
        desc: &Descriptor,
        source: &BlobSource,
    ) -> Result<u32, RegistryError> {
        let chunk_size = self.inner.config.chunk_size.max(1) as u64;
        let mut offset = 0u64;
        let mut chunks = 0u32;
        while offset < desc.size {
            let len = chunk_size.min(desc.size - offset);
            let body = self.read_source(repo, source, offset, len).await?;
            let range = format!("{}-{}", offset, offset + len - 1);
            let build = |r: reqwest::RequestBuilder| {
                r.header(CONTENT_TYPE, OCTET_STREAM)
                    .header(CONTENT_RANGE, range.as_str())
                    .header(CONTENT_LENGTH, len)
                    .body(body.clone())
            };
            let resp = self
                .request(repo, scopes, Method::PATCH, &location, &build)
                .await?;
            match resp.status() {
                StatusCode::ACCEPTED | StatusCode::NO_CONTENT => {
                    location = self.location(repo, &resp)?;
                    offset += len;
                    chunks += 1;
                    self.report(Progress {
                        digest: desc.digest.clone(),
                        phase: Phase::Uploading,
                        done: offset,
                        total: desc.size,
                    });
                }
                // A retried PATCH after a partial write: ask where the upload stands and go on.
                StatusCode::RANGE_NOT_SATISFIABLE => {
                    let (loc, next) = self.upload_status(repo, scopes, &location).await?;
                    debug!(digest = %desc.digest, from = offset, to = next, "repositioning chunked upload");
                    location = loc;
                    offset = next;
                }
                _ => {
                    return Err(self
                        .unexpected(repo, &Method::PATCH, &location, Target::Upload, resp)
                        .await)
                }
            }
        }
        self.finish_upload(repo, scopes, &location, &desc.digest, Bytes::new())
            .await?;
        Ok(chunks)
    }

    pub(crate) async fn upload_status(
        &self,
        repo: &Repository,
        scopes: &[String],
        location: &str,
    ) -> Result<(String, u64), RegistryError> {
        let resp = self
            .request(repo, scopes, Method::GET, location, &|r| r)
            .await?;
        if resp.status() != StatusCode::NO_CONTENT {
            return Err(self
                .unexpected(repo, &Method::GET, location, Target::Upload, resp)
                .await);
        }
        let next = resp
            .headers()
            .get(RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.trim()
                    .trim_start_matches("bytes=")
                    .split('-')
                    .nth(1)?
                    .parse::<u64>()
                    .ok()
            })
            .map_or(0, |end| end + 1);
        Ok((self.location(repo, &resp)?, next))
    }

    pub(crate) async fn finish_upload(
        &self,
        repo: &Repository,
        scopes: &[String],
        location: &str,
        digest: &Digest,
        body: Bytes,
    ) -> Result<(), RegistryError> {
        let sep = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{sep}digest={digest}");
        let len = body.len();
        let build = |r: reqwest::RequestBuilder| {
            r.header(CONTENT_TYPE, OCTET_STREAM)
                .header(CONTENT_LENGTH, len)
                .body(body.clone())
        };
        let resp = self
            .request(repo, scopes, Method::PUT, &url, &build)
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(self
                .unexpected(repo, &Method::PUT, &url, Target::Upload, resp)
                .await);
        }
        Ok(())
    }

    /// The upload URL from `Location`, made absolute (registries may send a path).
    pub(crate) fn location(
        &self,
        repo: &Repository,
        resp: &Response,
    ) -> Result<String, RegistryError> {
        let loc = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| RegistryError::Protocol {
                registry: repo.registry.clone(),
                detail: format!("upload response {} has no Location header", resp.status()),
            })?;
        if loc.starts_with("http://") || loc.starts_with("https://") {
            Ok(loc.to_string())
        } else {
            Ok(format!(
                "{}/{}",
                self.base_url(repo),
                loc.trim_start_matches('/')
            ))
        }
    }

    pub(crate) async fn read_source(
        &self,
        repo: &Repository,
        source: &BlobSource,
        offset: u64,
        len: u64,
    ) -> Result<Bytes, RegistryError> {
        match source {
            BlobSource::Bytes(b) => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX);
                let end = usize::try_from(offset + len).unwrap_or(usize::MAX);
                if end > b.len() || start > end {
                    return Err(RegistryError::Source {
                        registry: repo.registry.clone(),
                        repository: repo.name.clone(),
                        path: "<memory>".into(),
                        source: std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            format!("blob holds {} bytes, descriptor says more", b.len()),
                        ),
                    });
                }
                Ok(b.slice(start..end))
            }
            BlobSource::File(path) => {
                let err = |source| RegistryError::Source {
                    registry: repo.registry.clone(),
                    repository: repo.name.clone(),
                    path: path.display().to_string(),
                    source,
                };
                let mut f = tokio::fs::File::open(path).await.map_err(err)?;
                f.seek(std::io::SeekFrom::Start(offset))
                    .await
                    .map_err(err)?;
                let mut buf = vec![0u8; usize::try_from(len).unwrap_or(0)];
                f.read_exact(&mut buf).await.map_err(err)?;
                Ok(Bytes::from(buf))
            }
        }
    }
}
