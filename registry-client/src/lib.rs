//! kiln's registry client: the OCI distribution protocol (Docker registry API v2) — resolving
//! references to verified manifests, pulling and pushing blobs, and registry authentication
//! (Bearer tokens, Basic, Docker-compatible credential files and helpers).
//!
//! It knows nothing of kiln's store: blobs stream into any `AsyncWrite` and are pushed from
//! memory or files, so the store (or anything else) plugs in from the outside.

pub mod auth;
pub mod client;
pub mod credentials;
pub mod credhelper;
pub mod digest;
pub mod error;
mod login;
pub mod manifest;
pub mod progress;
pub mod pull;
pub mod push;
pub mod reference;
mod request;
pub mod resolve;
pub mod transport;
mod upload;

pub use client::{ClientConfig, RegistryClient};
pub use credentials::{Credential, CredentialError, CredentialSource, CredentialStore};
pub use digest::{Digest, DigestError};
pub use error::RegistryError;
pub use manifest::{
    Descriptor, ImageIndex, ImageManifest, Manifest, ManifestError, Platform, PlatformExt,
};
pub use progress::{Phase, Progress};
pub use pull::FetchStats;
pub use push::{BlobSource, PushOutcome};
pub use reference::{Reference, ReferenceError, ReferenceExt, Repository};
pub use resolve::{RawManifest, ResolvedImage};
pub use transport::{RetryPolicy, TransportConfig, TransportError};
