//! Where `run` and `create` get their image, as Docker's do: from the store, or pulled from
//! its registry per `--pull always|missing|never` (progress on stderr, as `kiln pull` shows
//! it); and `--platform`, which kiln accepts only for this machine (it has no emulation).

use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use kiln_cache::image::spec::host_platform;
use kiln_cache::{ImageRecord, Reference, Store, StoreError};
use kiln_registry::{Platform, PlatformExt};

use super::registry_opts::RegistryArgs;

/// Docker's `--pull` policies for `run` and `create`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum PullPolicy {
    /// Pull before every run: the tag is resolved on the registry again.
    Always,
    /// Pull only when the store lacks the image.
    #[default]
    Missing,
    /// Never pull: an image missing from the store is an error.
    Never,
}

/// The flags of `run` and `create` that say where the image comes from.
#[derive(Debug, Args)]
pub struct ImageSourceArgs {
    /// Pull the image: always, missing (only when not in the store), never
    #[arg(long, value_enum, default_value_t = PullPolicy::Missing)]
    pub pull: PullPolicy,
    /// Platform of the image, os/arch[/variant]; only this machine's (no emulation)
    #[arg(long)]
    pub platform: Option<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// The platform to pull or run: `--platform` if given (which must be this machine's),
/// else this machine's.
pub fn platform(flag: Option<&str>) -> anyhow::Result<Platform> {
    let (os, arch) = host_platform();
    let Some(p) = flag else {
        return Ok(Platform::parse(&format!("{os}/{arch}"))?);
    };
    let wanted = Platform::parse(p).with_context(|| format!("invalid --platform {p:?}"))?;
    if wanted.os != os || wanted.architecture != arch {
        bail!(
            "--platform {p}: this machine runs {os}/{arch} and kiln has no emulation for other \
             platforms; leave --platform out or give {os}/{arch}"
        );
    }
    Ok(without_baseline_variant(wanted))
}

/// `linux/amd64/v1` is what an index entry without a variant means; asking for it
/// explicitly must still match such entries.
fn without_baseline_variant(mut p: Platform) -> Platform {
    if p.architecture == "amd64" && p.variant.as_deref() == Some("v1") {
        p.variant = None;
    }
    p
}

/// The image `input` names, pulled first when the policy says so: `missing` pulls only
/// when the store lacks it (announced as Docker does), `always` re-resolves it on its
/// registry, `never` fails with Docker's "No such image" when it is absent.
pub fn ensure_image(
    store: &Arc<Store>,
    input: &str,
    source: &ImageSourceArgs,
) -> anyhow::Result<ImageRecord> {
    let platform = platform(source.platform.as_deref())?;
    let local = match store.resolve_image(input) {
        Ok(img) => Some(img),
        Err(StoreError::ImageNotFound(_)) => None,
        Err(e) => return Err(e).with_context(|| format!("looking up image {input:?}")),
    };
    match (source.pull, local) {
        (PullPolicy::Never, None) => bail!(
            "No such image: {} (--pull never: build, load or pull it first, or leave \
             --pull out to pull it)",
            Reference::parse(input).map_or_else(|_| input.to_string(), |r| r.familiar())
        ),
        (PullPolicy::Missing | PullPolicy::Never, Some(img)) => Ok(img),
        (policy, local) => {
            let reference = Reference::parse(input).with_context(|| {
                format!("unable to find image {input:?} in the store, and it is not a valid reference to pull")
            })?;
            if local.is_none() {
                eprintln!("Unable to find image '{}' locally", reference.familiar());
            }
            tracing::debug!(%reference, ?policy, "pulling the image to run");
            let what = match (&reference.digest, &reference.tag) {
                (Some(d), _) => d.to_string(),
                (None, Some(t)) => t.clone(),
                (None, None) => "latest".to_string(),
            };
            eprintln!("{what}: Pulling from {}", reference.repository);
            let mut err = std::io::stderr();
            super::pull::pull_and_report(
                store,
                &reference,
                &platform,
                &source.registry,
                false,
                &mut err,
            )
            .with_context(|| format!("pulling {} to run it", reference.familiar()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_accepts_only_this_machine() {
        let (os, arch) = host_platform();
        let host = platform(None).unwrap();
        assert_eq!((host.os.as_str(), host.architecture.as_str()), (os, arch));
        let explicit = platform(Some(&format!("{os}/{arch}"))).unwrap();
        assert_eq!(explicit.architecture, arch);
        let other = if arch == "s390x" { "ppc64le" } else { "s390x" };
        let err = platform(Some(&format!("linux/{other}"))).unwrap_err();
        assert!(format!("{err:#}").contains("no emulation"), "{err:#}");
        assert!(platform(Some("windows")).is_err());
    }

    #[test]
    fn amd64_v1_matches_entries_without_variant() {
        let p = without_baseline_variant(Platform::parse("linux/amd64/v1").unwrap());
        assert!(p.matches(&Platform::linux_amd64()));
        let v3 = without_baseline_variant(Platform::parse("linux/amd64/v3").unwrap());
        assert_eq!(v3.variant.as_deref(), Some("v3"));
    }
}
