//! `--cache-from` / `--cache-to` specs in buildx syntax: where a cache lives
//! (registry, OCI layout directory, inline), its mode and whether cache mounts ride along.

use std::path::PathBuf;

use anyhow::{bail, Context};
use kiln_cache::Reference;

const DEFAULT_TAG: &str = "latest";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only the steps the final image is made of.
    Min,
    /// Every step of the build.
    Max,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Registry(Reference),
    Local { dir: PathBuf, tag: String },
    Inline,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Registry(r) => write!(f, "{r}"),
            Location::Local { dir, tag } => write!(f, "{}:{tag}", dir.display()),
            Location::Inline => f.write_str("the image (inline)"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSpec {
    pub location: Location,
    pub mode: Mode,
    /// Also carry `RUN --mount=type=cache` contents.
    pub cache_mounts: bool,
}

fn flag(spec: &str, k: &str, v: &str) -> anyhow::Result<bool> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => bail!("{spec:?}: {k}={v} must be true or false"),
    }
}

/// Parse a `--cache-to` (`export`) or `--cache-from` spec: `type=registry,ref=R`,
/// `type=local,dest=DIR` / `src=DIR`, `type=inline`, or a bare reference (a registry).
pub fn parse(spec: &str, export: bool) -> anyhow::Result<CacheSpec> {
    let opt = if export { "--cache-to" } else { "--cache-from" };
    if !spec.contains('=') {
        let r = Reference::parse(spec).with_context(|| format!("{opt} {spec:?}"))?;
        return Ok(CacheSpec {
            location: Location::Registry(r),
            mode: Mode::Min,
            cache_mounts: false,
        });
    }
    let (mut kind, mut reference, mut dir, mut tag) = (None, None, None, None);
    let mut mode = Mode::Min;
    let mut cache_mounts = false;
    for field in spec.split(',') {
        match field.split_once('=') {
            Some(("type", v)) => kind = Some(v.to_string()),
            Some(("ref", v)) => reference = Some(v.to_string()),
            Some(("dest", v)) if export => dir = Some(PathBuf::from(v)),
            Some(("src", v)) if !export => dir = Some(PathBuf::from(v)),
            Some(("tag", v)) => tag = Some(v.to_string()),
            Some(("mode", "min")) => mode = Mode::Min,
            Some(("mode", "max")) => mode = Mode::Max,
            Some(("mode", v)) => bail!("{opt} {spec:?}: mode={v} must be min or max"),
            Some(("cache-mounts", v)) => cache_mounts = flag(spec, "cache-mounts", v)?,
            // BuildKit options that change nothing in kiln's format.
            Some((
                "oci-mediatypes" | "image-manifest" | "compression" | "ignore-error" | "digest",
                _,
            )) => {}
            _ => bail!("{opt} {spec:?}: unknown field {field:?}"),
        }
    }
    let location = match kind.as_deref() {
        Some("registry") => {
            let r = reference.with_context(|| format!("{opt} type=registry needs ref=NAME"))?;
            Location::Registry(
                Reference::parse(&r).with_context(|| format!("{opt} {spec:?}: ref {r:?}"))?,
            )
        }
        Some("local") => Location::Local {
            dir: dir.with_context(|| {
                format!(
                    "{opt} type=local needs {}=DIR",
                    if export { "dest" } else { "src" }
                )
            })?,
            tag: tag.unwrap_or_else(|| DEFAULT_TAG.into()),
        },
        Some("inline") if export => Location::Inline,
        Some(other) => bail!(
            "{opt} type={other} is not supported (use registry, local{})",
            if export { " or inline" } else { "" }
        ),
        None => bail!("{opt} {spec:?} needs type=registry|local"),
    };
    Ok(CacheSpec {
        location,
        mode,
        cache_mounts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_buildx_cache_specs() {
        let s = parse("type=registry,ref=reg:5000/app:cache,mode=max", true).unwrap();
        assert_eq!(s.mode, Mode::Max);
        assert!(
            matches!(&s.location, Location::Registry(r) if r.to_string() == "reg:5000/app:cache")
        );
        let s = parse("type=local,src=/tmp/c,cache-mounts=true", false).unwrap();
        assert!(s.cache_mounts);
        assert_eq!(
            s.location,
            Location::Local {
                dir: "/tmp/c".into(),
                tag: DEFAULT_TAG.into()
            }
        );
        // A bare reference is a registry cache, as buildx reads it.
        assert!(matches!(
            parse("reg:5000/app:cache", false).unwrap().location,
            Location::Registry(_)
        ));
        assert_eq!(
            parse("type=inline", true).unwrap().location,
            Location::Inline
        );
        // dest= is for export, src= for import; inline is export-only.
        assert!(parse("type=local,dest=/x", false).is_err());
        assert!(parse("type=local,src=/x", true).is_err());
        assert!(parse("type=inline", false).is_err());
        assert!(parse("type=registry", true).is_err());
        assert!(parse("type=registry,ref=r/a,mode=all", true).is_err());
        assert!(parse("type=gha", true).is_err());
    }
}
