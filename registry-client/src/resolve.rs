//! Resolving a reference to a verified manifest for one platform, through an index when
//! the reference names one.

use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use tracing::debug;

use crate::client::{pull_scope, RegistryClient};
use crate::digest::Digest;
use crate::error::RegistryError;
use crate::manifest::{
    select_platform, ImageManifest, Manifest, Platform, ACCEPTED_MANIFEST_TYPES,
};
use crate::reference::{Reference, ReferenceExt, Repository};
use crate::request::Target;

/// Manifests and configs are held in memory; the spec suggests registries cap manifests at 4 MiB.
pub const MAX_DOCUMENT_SIZE: u64 = 4 << 20;

/// A manifest exactly as the registry served it: these bytes are what the digest covers.
#[derive(Clone, Debug)]
pub struct RawManifest {
    pub media_type: String,
    pub digest: Digest,
    pub bytes: Bytes,
}

/// A reference resolved for one platform.
#[derive(Clone, Debug)]
pub struct ResolvedImage {
    /// The digest the reference pointed at: the index's when it named one, else the manifest's.
    pub digest: Digest,
    pub index: Option<RawManifest>,
    pub raw: RawManifest,
    pub manifest: ImageManifest,
}

impl RegistryClient {
    /// Fetch a manifest or index by tag or digest and verify its digest.
    pub async fn get_manifest(
        &self,
        repo: &Repository,
        reference: &str,
    ) -> Result<RawManifest, RegistryError> {
        let url = format!(
            "{}/v2/{}/manifests/{}",
            self.base_url(repo),
            repo.name,
            reference
        );
        let accept = ACCEPTED_MANIFEST_TYPES.join(", ");
        let scopes = [pull_scope(repo)];
        let resp = self
            .request(repo, &scopes, Method::GET, &url, &|r| {
                r.header(ACCEPT, accept.as_str())
            })
            .await?;
        if resp.status() != StatusCode::OK {
            return Err(self
                .unexpected(repo, &Method::GET, &url, Target::Manifest(reference), resp)
                .await);
        }
        let media_type = header_str(&resp, CONTENT_TYPE.as_str()).unwrap_or_default();
        let claimed = header_str(&resp, "docker-content-digest");
        let bytes = self
            .read_document(repo, &format!("manifest {reference}"), resp)
            .await?;
        let digest = Digest::of_bytes(&bytes);
        // A digest reference is the strongest claim; the header only counts without one.
        let expected = match Digest::parse(reference) {
            Ok(d) => Some(d.to_string()),
            Err(_) => claimed.filter(|c| c.starts_with("sha256:")),
        };
        if let Some(expected) = expected {
            if expected != digest.to_string() {
                return Err(RegistryError::DigestMismatch {
                    registry: repo.registry.clone(),
                    repository: repo.name.clone(),
                    what: format!("manifest {reference}"),
                    expected,
                    actual: digest,
                });
            }
        }
        Ok(RawManifest {
            media_type,
            digest,
            bytes,
        })
    }

    /// Resolve `reference` to the image manifest for `platform`, following an index if needed.
    pub async fn resolve(
        &self,
        reference: &Reference,
        platform: &Platform,
    ) -> Result<ResolvedImage, RegistryError> {
        let repo = &reference.repo();
        let manifest_err = |source| RegistryError::Manifest {
            registry: repo.registry.clone(),
            repository: repo.name.clone(),
            source: Box::new(source),
        };
        let top = self.get_manifest(repo, &reference.manifest_ref()).await?;
        match Manifest::parse(&top.media_type, &top.bytes).map_err(manifest_err)? {
            Manifest::Image(manifest) => Ok(ResolvedImage {
                digest: top.digest.clone(),
                index: None,
                raw: top,
                manifest: *manifest,
            }),
            Manifest::Index(index) => {
                let desc = select_platform(&index, platform)
                    .map_err(manifest_err)?
                    .clone();
                debug!(%reference, %platform, digest = %desc.digest, "selected platform manifest from index");
                let raw = self.get_manifest(repo, &desc.digest.to_string()).await?;
                if raw.bytes.len() as u64 != desc.size {
                    return Err(RegistryError::SizeMismatch {
                        registry: repo.registry.clone(),
                        repository: repo.name.clone(),
                        digest: desc.digest,
                        expected: desc.size,
                        actual: raw.bytes.len() as u64,
                    });
                }
                match Manifest::parse(&raw.media_type, &raw.bytes).map_err(manifest_err)? {
                    Manifest::Image(manifest) => Ok(ResolvedImage { digest: top.digest.clone(), index: Some(top), raw, manifest: *manifest }),
                    Manifest::Index(_) => Err(RegistryError::Protocol {
                        registry: repo.registry.clone(),
                        detail: format!("index {} points at another index for {platform}; nested indexes are not supported", top.digest),
                    }),
                }
            }
        }
    }
}

impl RegistryClient {
    async fn read_document(
        &self,
        repo: &Repository,
        what: &str,
        resp: reqwest::Response,
    ) -> Result<Bytes, RegistryError> {
        let too_large = || RegistryError::TooLarge {
            registry: repo.registry.clone(),
            repository: repo.name.clone(),
            what: what.to_string(),
            limit: MAX_DOCUMENT_SIZE,
        };
        if resp.content_length().is_some_and(|n| n > MAX_DOCUMENT_SIZE) {
            return Err(too_large());
        }
        let url = resp.url().to_string();
        let mut buf = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|source| RegistryError::Unreachable {
                registry: repo.registry.clone(),
                url: url.clone(),
                attempts: 1,
                source,
            })?;
            if (buf.len() + chunk.len()) as u64 > MAX_DOCUMENT_SIZE {
                return Err(too_large());
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(buf))
    }
}

pub(crate) fn header_str(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}
