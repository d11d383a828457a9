//! How the compiler learns about base images: it cannot read registries or the store
//! itself, so its caller hands it an [`ImageResolver`]. The solver passes one backed by
//! the store and registry; `kiln debug graph` and `kiln lint` pass [`NoImages`].
//!
//! API: [`ImageResolver`], [`ResolvedImage`], [`ResolveError`], [`NoImages`].

use crate::graph::{HistoryEntry, ImageConfig, Platform};

/// What the compiler needs to know about a base image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvedImage {
    /// The image's config: its ENV, WORKDIR, USER, SHELL, ONBUILD triggers, … flow into
    /// the stage built FROM it.
    pub config: ImageConfig,
    /// The image's history, kept at the start of the new image's history.
    pub history: Vec<HistoryEntry>,
    /// The manifest digest (`sha256:…`) when known: the graph then pins the reference
    /// to it so a moved tag gives a new digest.
    pub digest: Option<String>,
    /// True when the image has no layers (the stage then starts from scratch).
    pub empty: bool,
}

/// A failure to look an image up (network, auth, missing manifest for the platform).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ResolveError {
    pub message: String,
}

/// Looks base images up by normalised reference (`docker.io/library/busybox:latest`).
pub trait ImageResolver {
    /// `Ok(None)`: the resolver does not know images at all (the stage then uses an empty
    /// config, as with `debug graph`); `Err`: the lookup failed.
    fn resolve(
        &self,
        reference: &str,
        platform: &Platform,
    ) -> Result<Option<ResolvedImage>, ResolveError>;
}

/// A resolver that knows no images: every base image gets an empty config.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoImages;

impl ImageResolver for NoImages {
    fn resolve(
        &self,
        _reference: &str,
        _platform: &Platform,
    ) -> Result<Option<ResolvedImage>, ResolveError> {
        Ok(None)
    }
}
