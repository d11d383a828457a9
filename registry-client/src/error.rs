//! The error every registry operation returns. Each variant names the registry and repository
//! (and scope / credential source for auth failures) so the message says what to fix.

use crate::auth::AuthError;
use crate::credentials::{CredentialError, CredentialSource};
use crate::digest::Digest;
use crate::manifest::ManifestError;
use crate::transport::TransportError;

/// Who was refused what, for 401/403 errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFailure {
    pub registry: String,
    pub repository: String,
    pub scope: String,
    pub source_used: CredentialSource,
    pub detail: String,
}

impl std::fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.registry)?;
        if !self.repository.is_empty() {
            write!(
                f,
                " for repository {} (scope {:?})",
                self.repository, self.scope
            )?;
        }
        write!(f, " using {}: {}", self.source_used, self.detail)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot reach registry {registry} ({url}) after {attempts} attempt(s): {source}; check the address and network, or pass --insecure-registry for a plain-http registry")]
    Unreachable {
        registry: String,
        url: String,
        attempts: u32,
        source: reqwest::Error,
    },
    #[error("registry {registry} returned {status} for {method} {url} after {attempts} attempt(s): {detail}")]
    Unavailable {
        registry: String,
        method: String,
        url: String,
        status: u16,
        attempts: u32,
        detail: String,
    },
    #[error("authentication to {0} failed; run `kiln login {registry}` with valid credentials", registry = .0.registry)]
    Unauthorized(Box<AuthFailure>),
    #[error("access denied by {0}; the account lacks permission for this action")]
    Denied(Box<AuthFailure>),
    #[error("repository {repository} does not exist on {registry} (or is private: log in with `kiln login {registry}`)")]
    RepositoryUnknown {
        registry: String,
        repository: String,
    },
    #[error("manifest {reference} not found in {registry}/{repository}; check the tag or digest")]
    ManifestUnknown {
        registry: String,
        repository: String,
        reference: String,
    },
    #[error("blob {digest} not found in {registry}/{repository}")]
    BlobUnknown {
        registry: String,
        repository: String,
        digest: Digest,
    },
    #[error("digest mismatch for {what} from {registry}/{repository}: expected {expected}, got {actual}; the registry or a proxy altered the content, nothing was kept")]
    DigestMismatch {
        registry: String,
        repository: String,
        what: String,
        expected: String,
        actual: Digest,
    },
    #[error("size mismatch for {digest} from {registry}/{repository}: expected {expected} bytes, got {actual}; nothing was kept")]
    SizeMismatch {
        registry: String,
        repository: String,
        digest: Digest,
        expected: u64,
        actual: u64,
    },
    #[error("{what} from {registry}/{repository} is larger than the {limit}-byte limit for documents kiln holds in memory")]
    TooLarge {
        registry: String,
        repository: String,
        what: String,
        limit: u64,
    },
    #[error("{registry}/{repository}: {source}")]
    Manifest {
        registry: String,
        repository: String,
        source: Box<ManifestError>,
    },
    #[error("registry {registry} broke the protocol: {detail}")]
    Protocol { registry: String, detail: String },
    #[error("authentication with {registry} for repository {repository} failed: {source}")]
    Auth {
        registry: String,
        repository: String,
        source: Box<AuthError>,
    },
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("writing blob {digest} from {registry}/{repository} failed: {source}")]
    Sink {
        registry: String,
        repository: String,
        digest: Digest,
        source: std::io::Error,
    },
    #[error("reading {path} to upload to {registry}/{repository} failed: {source}")]
    Source {
        registry: String,
        repository: String,
        path: String,
        source: std::io::Error,
    },
    #[error("registry {registry} rejected {method} {url} ({status}): {detail}")]
    Rejected {
        registry: String,
        method: String,
        url: String,
        status: u16,
        detail: String,
    },
}
