//! `--output`: where a build's result goes besides the store — an OCI/Docker archive, the
//! final root filesystem as a directory, or as a tar.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use kiln_cache::archive::save::{save, SaveItem};
use kiln_cache::layer::{
    apply_layer_blob, diff::tree_entries, tarwrite, ApplyMode, ApplyOptions, TarOptions,
};
use kiln_cache::{ImageRecord, Reference, Store};
use kiln_solver::local::Chain;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputSpec {
    /// Store the image and tag it (the default).
    Image,
    /// An archive readable by `docker load` and OCI tools (kiln writes both layouts at once).
    Archive { dest: PathBuf },
    /// The final filesystem as a directory.
    Local { dest: PathBuf },
    /// The final filesystem as a tar file.
    Tar { dest: PathBuf },
}

/// Parse `type=…,dest=…` (or a bare directory, which means `type=local`).
pub fn parse(spec: &str) -> anyhow::Result<OutputSpec> {
    if !spec.contains('=') {
        return Ok(OutputSpec::Local { dest: spec.into() });
    }
    let mut kind = None;
    let mut dest = None;
    for field in spec.split(',') {
        match field.split_once('=') {
            Some(("type", v)) => kind = Some(v.to_string()),
            Some(("dest", v)) => dest = Some(PathBuf::from(v)),
            // Options BuildKit knows that change nothing here (name= is covered by -t).
            Some(("name" | "push" | "compression" | "oci-mediatypes", _)) => {}
            _ => bail!("--output {spec:?}: unknown field {field:?} (expected type=…,dest=…)"),
        }
    }
    let need_dest = |k: &str| {
        dest.clone()
            .with_context(|| format!("--output type={k} needs dest=PATH"))
    };
    Ok(match kind.as_deref() {
        Some("image") | None => OutputSpec::Image,
        Some(k @ ("oci" | "docker")) => OutputSpec::Archive {
            dest: need_dest(k)?,
        },
        Some("local") => OutputSpec::Local {
            dest: need_dest("local")?,
        },
        Some("tar") => OutputSpec::Tar {
            dest: need_dest("tar")?,
        },
        Some(other) => {
            bail!("--output type={other} is not supported (use image, oci, docker, local or tar)")
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
        assert_eq!(parse("type=image").unwrap(), OutputSpec::Image);
        assert_eq!(
            parse("type=oci,dest=o.tar").unwrap(),
            OutputSpec::Archive {
                dest: "o.tar".into()
            }
        );
        assert_eq!(
            parse("out").unwrap(),
            OutputSpec::Local { dest: "out".into() }
        );
        assert!(parse("type=local").is_err());
        assert!(parse("type=registry,dest=x").is_err());
        assert!(parse("type=tar,dest=x,bogus=1").is_err());
    }
}
