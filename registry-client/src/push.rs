//! Writing to a registry: blobs (skipped when present, mounted from a sibling repository,
//! else uploaded, restarting a broken session) and manifests by tag.

use std::path::PathBuf;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use tracing::{debug, warn};

use crate::client::{pull_scope, push_scope, RegistryClient};
use crate::digest::Digest;
use crate::error::RegistryError;
use crate::manifest::Descriptor;
use crate::progress::{Phase, Progress};
use crate::reference::{Reference, ReferenceExt, Repository};
use crate::request::Target;

/// Where the bytes of a blob to push come from.
#[derive(Clone, Debug)]
pub enum BlobSource {
    Bytes(Bytes),
    File(PathBuf),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    AlreadyPresent,
    Mounted,
    Uploaded { chunks: u32 },
}

/// Upload sessions tried per blob before giving up.
const MAX_UPLOAD_SESSIONS: u32 = 3;

/// Failures of the session itself (connection lost, session invalidated, content garbled on
/// the way) as opposed to ones a new session would meet again (auth, a bad local file).
fn restartable(e: &RegistryError) -> bool {
    match e {
        RegistryError::Unreachable { .. } | RegistryError::Unavailable { .. } => true,
        RegistryError::Rejected { status, .. } => matches!(status, 400 | 404 | 416),
        _ => false,
    }
}

impl RegistryClient {
    /// Whether the repository already holds the blob (`HEAD`).
    pub async fn blob_exists(
        &self,
        repo: &Repository,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        self.blob_exists_scoped(repo, &[pull_scope(repo)], digest)
            .await
    }

    /// Push one blob unless the repository has it. With `mount_from` (another repository on
    /// the same registry that holds it) the registry links it without any upload.
    pub async fn push_blob(
        &self,
        repo: &Repository,
        desc: &Descriptor,
        source: &BlobSource,
        mount_from: Option<&Repository>,
    ) -> Result<PushOutcome, RegistryError> {
        let mut scopes = vec![push_scope(repo)];
        if self.blob_exists_scoped(repo, &scopes, &desc.digest).await? {
            self.report(Progress {
                digest: desc.digest.clone(),
                phase: Phase::Skipped,
                done: desc.size,
                total: desc.size,
            });
            return Ok(PushOutcome::AlreadyPresent);
        }
        let from = mount_from.filter(|m| m.registry == repo.registry && m.name != repo.name);
        if let Some(from) = from {
            scopes.push(pull_scope(from));
        }
        let mut location = match self.start_upload(repo, &scopes, &desc.digest, from).await? {
            Some(location) => location,
            None => {
                debug!(repo = %repo, digest = %desc.digest, "blob mounted from another repository");
                self.report(Progress {
                    digest: desc.digest.clone(),
                    phase: Phase::Mounted,
                    done: desc.size,
                    total: desc.size,
                });
                return Ok(PushOutcome::Mounted);
            }
        };
        let mut attempt = 1;
        let chunks = loop {
            let result = if desc.size <= self.inner.config.monolithic_limit {
                let body = self.read_source(repo, source, 0, desc.size).await?;
                self.finish_upload(repo, &scopes, &location, &desc.digest, body)
                    .await
                    .map(|()| 1)
            } else {
                self.upload_chunks(repo, &scopes, location.clone(), desc, source)
                    .await
            };
            match result {
                Ok(chunks) => break chunks,
                // A broken upload session cannot be trusted to resume (a cut request may have
                // left part of its body behind): start a fresh session, as Docker does.
                Err(e) if attempt < MAX_UPLOAD_SESSIONS && restartable(&e) => {
                    warn!(repo = %repo, digest = %desc.digest, error = %e, "upload failed, restarting it");
                    attempt += 1;
                    location = match self.start_upload(repo, &scopes, &desc.digest, None).await? {
                        Some(l) => l,
                        None => return Ok(PushOutcome::Mounted),
                    };
                }
                Err(e) => return Err(e),
            }
        };
        self.report(Progress {
            digest: desc.digest.clone(),
            phase: Phase::Done,
            done: desc.size,
            total: desc.size,
        });
        Ok(PushOutcome::Uploaded { chunks })
    }

    /// Push several blobs, at most `max_parallel` at once, trying to mount each from
    /// `mount_from` when given.
    pub async fn push_blobs(
        &self,
        repo: &Repository,
        blobs: &[(Descriptor, BlobSource)],
        mount_from: Option<&Repository>,
    ) -> Result<Vec<PushOutcome>, RegistryError> {
        self.push_blobs_mounting(repo, blobs, |_| mount_from.cloned())
            .await
    }

    /// Like `push_blobs`, with a mount source chosen per blob (e.g. another repository of the
    /// same registry an earlier push or pull of that blob used).
    pub async fn push_blobs_mounting(
        &self,
        repo: &Repository,
        blobs: &[(Descriptor, BlobSource)],
        mount_for: impl Fn(&Descriptor) -> Option<Repository>,
    ) -> Result<Vec<PushOutcome>, RegistryError> {
        let parallel = self.inner.config.max_parallel.max(1);
        let jobs = blobs.iter().map(|(d, s)| {
            let from = mount_for(d);
            async move { self.push_blob(repo, d, s, from.as_ref()).await }
        });
        futures_util::stream::iter(jobs)
            .buffered(parallel)
            .try_collect()
            .await
    }

    /// Store a manifest under a tag (or digest) and return the digest the registry filed it by.
    pub async fn put_manifest(
        &self,
        reference: &Reference,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<Digest, RegistryError> {
        let repo = &reference.repo();
        let target = reference
            .tag
            .clone()
            .unwrap_or_else(|| reference.manifest_ref());
        let url = format!(
            "{}/v2/{}/manifests/{}",
            self.base_url(repo),
            repo.name,
            target
        );
        let digest = Digest::of_bytes(&bytes);
        let build =
            |r: reqwest::RequestBuilder| r.header(CONTENT_TYPE, media_type).body(bytes.clone());
        let resp = self
            .request(repo, &[push_scope(repo)], Method::PUT, &url, &build)
            .await?;
        if resp.status() != StatusCode::CREATED && resp.status() != StatusCode::OK {
            return Err(self
                .unexpected(repo, &Method::PUT, &url, Target::Manifest(&target), resp)
                .await);
        }
        if let Some(claimed) = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
        {
            if claimed != digest.to_string() {
                return Err(RegistryError::DigestMismatch {
                    registry: repo.registry.clone(),
                    repository: repo.name.clone(),
                    what: format!("manifest {target} as stored"),
                    expected: claimed.to_string(),
                    actual: digest,
                });
            }
        }
        Ok(digest)
    }

    /// `HEAD` on the blob under the given token scopes.
    async fn blob_exists_scoped(
        &self,
        repo: &Repository,
        scopes: &[String],
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        // `push_blob` asks under the push scope so one token serves the whole push.
        let url = format!("{}/v2/{}/blobs/{}", self.base_url(repo), repo.name, digest);
        let resp = self
            .request(repo, scopes, Method::HEAD, &url, &|r| r)
            .await?;
        match resp.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self
                .unexpected(repo, &Method::HEAD, &url, Target::Blob(digest), resp)
                .await),
        }
    }
}
