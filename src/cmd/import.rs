//! `kiln import FILE|- [REPOSITORY[:TAG]]`: a root filesystem tarball becomes an image.

use anyhow::Context;
use clap::Args;
use kiln_cache::archive::import::{import, ImportOptions};
use kiln_cache::layer::Compression;
use kiln_cache::Reference;

use super::store_open::open_store;
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Tarball of a root filesystem (plain, gzip or zstd), or - for stdin
    pub file: String,
    /// Name for the new image
    pub reference: Option<String>,
    /// Dockerfile instruction to apply to the config (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL)
    #[arg(short, long)]
    pub change: Vec<String>,
    /// Commit message for the history entry
    #[arg(short, long)]
    pub message: Option<String>,
}

pub fn run(global: &GlobalArgs, args: ImportArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    let name = args
        .reference
        .as_deref()
        .map(Reference::parse)
        .transpose()?;
    let opts = ImportOptions {
        name,
        changes: args.change.clone(),
        message: args.message.clone(),
        source: args.file.clone(),
        compression: Compression::Gzip,
        created: None,
    };
    let img = if args.file == "-" {
        import(&store, std::io::stdin(), &opts)?
    } else {
        let f =
            std::fs::File::open(&args.file).with_context(|| format!("opening {}", args.file))?;
        import(&store, f, &opts)?
    };
    super::unpack::unpack_or_discard(&store, &img)?;
    // As `docker import`: an `import` image event, named by the reference if one was given.
    let id = img.config_digest.to_string();
    let name = opts
        .name
        .as_ref()
        .map_or_else(|| id.clone(), |n| n.to_string());
    store.image_event("import", &id, &name);
    println!("{}", img.config_digest);
    Ok(0)
}
