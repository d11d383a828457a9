//! Base images from registries during a build: `FROM` images the store lacks are pulled
//! before the graph is solved (and, with `--pull`, every tag is resolved against its
//! registry again). The image is then in the store like any other, so the step's cache key
//! is its manifest digest: a re-tag of the same image still hits.

use std::sync::{Arc, Mutex};

use anyhow::Context;
use kiln_cache::{Reference, Store};
use kiln_frontend::graph::Platform as BuildPlatform;
use kiln_registry::{Platform, PlatformExt, RegistryClient};

use crate::cmd::registry_opts::{ProgressView, RegistryArgs};
use crate::progress::ProgressMode;

/// Pulls base images on the build's runtime.
pub struct BasePuller {
    pub client: RegistryClient,
    pub handle: tokio::runtime::Handle,
    /// `--pull`: resolve tags against the registry even when the store has the image.
    pub always: bool,
    /// Print what is pulled (not in quiet or machine-readable progress modes).
    pub verbose: bool,
}

/// Shows the layers of each base image pull.
fn layer_view(progress: ProgressMode) -> Arc<ProgressView> {
    match progress {
        // Plain progress means lines, also on a terminal (as `kiln pull` prints them).
        ProgressMode::Plain => Arc::new(ProgressView::Lines {
            last: Mutex::default(),
            pushing: false,
        }),
        _ => ProgressView::new(false, false),
    }
}

impl BasePuller {
    /// Pull through a client that shows every layer's progress (bars on a terminal, a
    /// line per layer and phase otherwise); nothing changes when not verbose.
    pub fn with_layer_progress(mut self, registry: &RegistryArgs, progress: ProgressMode) -> Self {
        if self.verbose {
            self.client = registry.client(&layer_view(progress));
        }
        self
    }

    /// Whether `reference` should be fetched before it is read from the store.
    pub fn wants(&self, store: &Store, reference: &str) -> bool {
        let present = store.resolve_image(reference).is_ok();
        // A digest names fixed content: nothing to re-resolve once present.
        let pinned = reference.contains('@');
        !present || (self.always && !pinned)
    }

    /// Pull `reference` for `platform` into the store.
    pub fn pull(
        &self,
        store: &Store,
        reference: &str,
        platform: &BuildPlatform,
    ) -> anyhow::Result<()> {
        let parsed = Reference::parse(reference)
            .with_context(|| format!("invalid base image reference {reference:?}"))?;
        let wanted = registry_platform(platform)?;
        if self.verbose {
            eprintln!("pulling {parsed} ({wanted})");
        }
        let (image, fetched) = self
            .handle
            .block_on(crate::cmd::pull::pull(
                &self.client,
                store,
                &parsed,
                &wanted,
            ))
            .with_context(|| format!("pulling base image {parsed}"))?;
        tracing::info!(image = %parsed, digest = %image.manifest_digest, fetched, "base image resolved");
        if self.verbose {
            let status = if fetched { "downloaded" } else { "up to date" };
            eprintln!("{parsed}: {status}, digest {}", image.manifest_digest);
        }
        Ok(())
    }
}

fn registry_platform(p: &BuildPlatform) -> anyhow::Result<Platform> {
    let mut s = format!("{}/{}", p.os, p.architecture);
    if let Some(v) = &p.variant {
        s.push('/');
        s.push_str(v);
    }
    Platform::parse(&s).with_context(|| format!("platform {s}"))
}
