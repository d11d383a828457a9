//! `kiln create`: a new container from an image, not started; prints its id.

use clap::Args;

use super::container_opts::{open_store, ContainerOpts};
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub opts: Box<ContainerOpts>,
    /// --pull, --platform and the registry options for pulling a missing image
    #[command(flatten)]
    pub source: super::image_source::ImageSourceArgs,
}

pub fn run(global: &GlobalArgs, args: CreateArgs) -> anyhow::Result<i32> {
    let store = std::sync::Arc::new(open_store(global)?);
    // Flags are checked before anything is pulled.
    let req = args.opts.to_request()?;
    super::image_source::ensure_image(&store, &args.opts.image, &args.source)?;
    let rec = create_with(&store, req, args.opts.flags.cidfile.as_deref())?;
    println!("{}", rec.id);
    Ok(0)
}

/// Creates the container and writes `--cidfile` (which must not exist yet, as Docker).
pub fn create_with(
    store: &kiln_cache::Store,
    req: kiln_runtime::CreateRequest,
    cidfile: Option<&std::path::Path>,
) -> anyhow::Result<kiln_runtime::ContainerRecord> {
    use anyhow::Context;
    if let Some(f) = cidfile {
        if f.exists() {
            anyhow::bail!(
                "container id file {} already exists; remove it first",
                f.display()
            );
        }
    }
    let rec = kiln_runtime::create(store, req)?;
    if let Some(f) = cidfile {
        std::fs::write(f, &rec.id).with_context(|| format!("writing --cidfile {}", f.display()))?;
    }
    Ok(rec)
}
