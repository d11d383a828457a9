//! `--output`: where a build's result goes besides the store — an OCI/Docker archive, the
//! final root filesystem as a directory, or as a tar. `type=registry` is buildx's shorthand
//! for `type=image,push=true` (the push itself is read by `push::image_output`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use kiln_cache::archive::save::{save, SaveItem};
use kiln_cache::layer::Compression;
use kiln_cache::layer::{
    apply_layer_blob, diff::tree_entries, tarwrite, ApplyMode, ApplyOptions, TarOptions,
};
use kiln_cache::{ImageRecord, Reference, Store};
use kiln_solver::local::convert::LayerOptions;
use kiln_solver::local::Chain;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputSpec {
    /// Store the image and tag it (the default).
    Image { layers: LayerOptions },
    /// An archive readable by `docker load` and OCI tools (kiln writes both layouts at once).
    Archive { dest: PathBuf, layers: LayerOptions },
    /// The final filesystem as a directory.
    Local { dest: PathBuf },
    /// The final filesystem as a tar file.
    Tar { dest: PathBuf },
}

impl OutputSpec {
    pub fn is_image(&self) -> bool {
        matches!(self, OutputSpec::Image { .. })
    }
}

fn parse_bool(spec: &str, key: &str, v: &str) -> anyhow::Result<bool> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => bail!("--output {spec:?}: {key}={v} must be true or false"),
    }
}

/// Parse `type=…,dest=…` (or a bare directory, which means `type=local`).
pub fn parse(spec: &str) -> anyhow::Result<OutputSpec> {
    if !spec.contains('=') {
        return Ok(OutputSpec::Local { dest: spec.into() });
    }
    let mut kind = None;
    let mut dest = None;
    let mut layers = LayerOptions::default();
    let mut layer_field = None;
    for field in spec.split(',') {
        match field.split_once('=') {
            Some(("type", v)) => kind = Some(v.to_string()),
            Some(("dest", v)) => dest = Some(PathBuf::from(v)),
            Some(("compression", v)) => {
                layers.compression = Some(Compression::parse(v).with_context(|| {
                    format!("--output {spec:?}: compression={v} is not supported (use gzip, zstd or uncompressed)")
                })?);
                layer_field = Some(field);
            }
            Some(("compression-level", v)) => {
                let level: i32 = v.parse().ok().filter(|l| (0..=22).contains(l)).with_context(|| {
                    format!("--output {spec:?}: compression-level={v} must be a number (gzip 0-9, zstd 1-22)")
                })?;
                layers.level = Some(level);
                layer_field = Some(field);
            }
            Some(("force-compression", v)) => {
                layers.force = parse_bool(spec, "force-compression", v)?;
                layer_field = Some(field);
            }
            // Options BuildKit knows that change nothing here (name= and push= are read by
            // push.rs; kiln always writes OCI media types).
            Some(("name" | "push" | "oci-mediatypes", _)) => {}
            _ => bail!("--output {spec:?}: unknown field {field:?} (expected type=…,dest=…)"),
        }
    }
    if let (Some(field), Some("local" | "tar")) = (layer_field, kind.as_deref()) {
        bail!("--output {spec:?}: {field} applies to image, oci and docker outputs, which have layers");
    }
    if let (Some(_), Some("registry")) = (&dest, kind.as_deref()) {
        bail!("--output {spec:?}: type=registry pushes to name=REGISTRY/REPOSITORY:TAG (or the -t names); it has no dest");
    }
    let need_dest = |k: &str| {
        dest.clone()
            .with_context(|| format!("--output type={k} needs dest=PATH"))
    };
    Ok(match kind.as_deref() {
        Some("image" | "registry") | None => OutputSpec::Image { layers },
        Some(k @ ("oci" | "docker")) => OutputSpec::Archive {
            dest: need_dest(k)?,
            layers,
        },
        Some("local") => OutputSpec::Local {
            dest: need_dest("local")?,
        },
        Some("tar") => OutputSpec::Tar {
            dest: need_dest("tar")?,
        },
        Some(other) => {
            bail!("--output type={other} is not supported (use image, registry, oci, docker, local or tar)")
        }
    })
}

/// Write the image as an archive at `dest`.
pub fn write_archive(
    store: &Store,
    image: &ImageRecord,
    names: &[Reference],
    dest: &Path,
) -> anyhow::Result<()> {
    let f = File::create(dest).with_context(|| format!("creating {}", dest.display()))?;
    let items = [SaveItem {
        image: image.clone(),
        names: names.to_vec(),
    }];
    let mut w = save(store, &items, BufWriter::new(f))?;
    w.flush()
        .with_context(|| format!("writing {}", dest.display()))?;
    Ok(())
}

/// Unpack the chain's merged filesystem into `dest`.
pub fn write_local(store: &Store, chain: &Chain, dest: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
    let opts = ApplyOptions {
        mode: ApplyMode::Merge,
        allow_devices: false,
    };
    for l in &chain.layers {
        apply_layer_blob(store.content(), &l.blob, Some(&l.diff_id), dest, opts)
            .with_context(|| format!("unpacking layer {} into {}", l.blob, dest.display()))?;
    }
    Ok(())
}

/// The chain's merged filesystem as a tar file at `dest`.
pub fn write_tar(store: &Store, chain: &Chain, dest: &Path) -> anyhow::Result<()> {
    let tmp_parent = store.root().join("build-tmp");
    std::fs::create_dir_all(&tmp_parent)?;
    let tmp =
        tempfile::tempdir_in(&tmp_parent).context("creating a temp dir for the tar output")?;
    write_local(store, chain, tmp.path())?;
    let entries = tree_entries(tmp.path())?;
    let f = File::create(dest).with_context(|| format!("creating {}", dest.display()))?;
    let mut w = BufWriter::new(f);
    tarwrite::write_tar(&mut w, &entries, &TarOptions::default())?;
    w.flush()
        .with_context(|| format!("writing {}", dest.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_buildx_output_specs() {
        assert_eq!(
            parse("type=image").unwrap(),
            OutputSpec::Image {
                layers: LayerOptions::default()
            }
        );
        assert_eq!(
            parse("type=oci,dest=o.tar").unwrap(),
            OutputSpec::Archive {
                dest: "o.tar".into(),
                layers: LayerOptions::default()
            }
        );
        assert_eq!(
            parse("out").unwrap(),
            OutputSpec::Local { dest: "out".into() }
        );
        assert!(parse("type=local").is_err());
        // buildx's shorthand for an image output that is pushed.
        assert_eq!(
            parse("type=registry,name=reg:5000/a:1").unwrap(),
            OutputSpec::Image {
                layers: LayerOptions::default()
            }
        );
        assert!(parse("type=registry,dest=x").is_err());
        assert!(parse("type=gha").is_err());
        assert!(parse("type=tar,dest=x,bogus=1").is_err());
    }

    #[test]
    fn parses_layer_options() {
        let OutputSpec::Image { layers } =
            parse("type=image,compression=zstd,compression-level=19,force-compression=true")
                .unwrap()
        else {
            panic!("not an image output");
        };
        assert_eq!(
            layers,
            LayerOptions {
                compression: Some(Compression::Zstd),
                level: Some(19),
                force: true,
                source_date_epoch: None
            }
        );
        let OutputSpec::Archive { layers, .. } =
            parse("type=docker,dest=d.tar,compression=uncompressed").unwrap()
        else {
            panic!("not an archive output");
        };
        assert_eq!(layers.compression, Some(Compression::None));
        assert!(parse("type=image,compression=lz4").is_err());
        assert!(parse("type=image,compression-level=high").is_err());
        assert!(parse("type=image,force-compression=maybe").is_err());
        assert!(parse("type=local,dest=d,compression=zstd").is_err());
    }
}
