//! `kiln save [-o FILE] IMAGE...`: one archive that `docker load` and OCI tools both read.

use std::io::{IsTerminal, Write};

use anyhow::{bail, Context};
use clap::Args;
use kiln_cache::archive::save::{save, SaveItem};
use kiln_cache::Reference;

use super::store_open::open_store;
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Images to save (names keep their tag in the archive; ids are saved untagged)
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Write to this file instead of stdout
    #[arg(short, long)]
    pub output: Option<std::path::PathBuf>,
}

pub fn run(global: &GlobalArgs, args: SaveArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    let mut items: Vec<SaveItem> = Vec::new();
    for input in &args.images {
        let image = store.resolve_image(input)?;
        let name = Reference::parse(input)
            .ok()
            .filter(|r| image.names.contains(r));
        match items
            .iter_mut()
            .find(|i| i.image.manifest_digest == image.manifest_digest)
        {
            Some(existing) => existing.names.extend(name),
            None => items.push(SaveItem {
                image,
                names: name.into_iter().collect(),
            }),
        }
    }
    match &args.output {
        Some(path) => {
            // Write beside the target and rename, so a failed save leaves no half archive.
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let tmp = tempfile::NamedTempFile::new_in(dir)
                .with_context(|| format!("creating a temp file in {}", dir.display()))?;
            let f = save(&store, &items, std::io::BufWriter::new(tmp.reopen()?))?;
            f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            tmp.persist(path)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        None => {
            let stdout = std::io::stdout();
            if stdout.is_terminal() {
                bail!("refusing to write an archive to a terminal; use -o FILE or redirect stdout");
            }
            let mut w = save(&store, &items, std::io::BufWriter::new(stdout.lock()))?;
            w.flush()?;
        }
    }
    Ok(0)
}
