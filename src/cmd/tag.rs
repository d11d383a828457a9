//! `kiln tag SOURCE TARGET`: give an image another name.

use anyhow::Context;
use clap::Args;
use kiln_cache::Reference;

use super::store_open::open_store;
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct TagArgs {
    /// Image to tag (name, id or id prefix)
    pub source: String,
    /// New name, e.g. myapp:1.0 or localhost:5000/myapp
    pub target: String,
}

pub fn run(global: &GlobalArgs, args: TagArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    let image = store.resolve_image(&args.source)?;
    let target = Reference::parse(&args.target)?;
    if target.digest.is_some() {
        anyhow::bail!(
            "cannot tag with a digest reference {:?}; a tag names a mutable pointer",
            args.target
        );
    }
    store
        .tag_image(&image, &target)
        .with_context(|| format!("tagging {} as {}", args.source, target.familiar()))?;
    Ok(0)
}
