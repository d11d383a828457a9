//! `kiln rmi [-f] IMAGE...`: untag, and delete images left without names.

use anyhow::bail;
use clap::Args;
use kiln_cache::Reference;

use super::store_open::open_store;
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Images to remove (names, ids or id prefixes)
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Remove even if containers use the image or it has several names
    #[arg(short, long)]
    pub force: bool,
}

pub fn run(global: &GlobalArgs, args: RmiArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    let mut failed = false;
    for input in &args.images {
        if let Err(e) = remove_one(&store, input, args.force) {
            crate::exit::report(&e);
            failed = true;
        }
    }
    // Free the layers of deleted images now, as Docker does.
    store.collect_garbage()?;
    Ok(if failed { crate::exit::KILN_ERROR } else { 0 })
}

fn remove_one(store: &kiln_cache::Store, input: &str, force: bool) -> anyhow::Result<()> {
    let image = store.resolve_image(input)?;
    let by_name = Reference::parse(input)
        .ok()
        .filter(|r| image.names.contains(r));
    // A name of an image with other names: only that name goes.
    if let Some(name) = &by_name {
        if image.names.len() > 1 {
            store.untag(name)?;
            println!("Untagged: {}", name.familiar());
            return Ok(());
        }
    } else if image.names.len() > 1 && !force {
        bail!(
            "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories ({})",
            image.config_digest.short(),
            image.names.iter().map(|n| n.familiar()).collect::<Vec<_>>().join(", ")
        );
    }
    let holders = store.image_holders(&image)?;
    if !holders.is_empty() && !force {
        bail!("conflict: unable to remove image {} ({}): it is used by {}; remove those containers first or use -f", input, image.config_digest.short(), holders.join(", "));
    }
    let names = store.remove_image_with_tags(&image.manifest_digest)?;
    for n in names {
        println!("Untagged: {}", n.familiar());
    }
    println!("Deleted: {}", image.config_digest);
    Ok(())
}
