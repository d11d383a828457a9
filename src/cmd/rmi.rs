//! `kiln rmi [-f] IMAGE...`: untag, and delete images left without names.

use anyhow::bail;
use clap::Args;
use kiln_cache::{Reference, StoreError};
use kiln_runtime::{lifecycle, State};

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
        match remove_one(&store, input, args.force) {
            // As Docker's `rmi -f`: an image already gone is no failure.
            Err(e)
                if args.force
                    && matches!(
                        e.downcast_ref::<StoreError>(),
                        Some(StoreError::ImageNotFound(_))
                    ) => {}
            Err(e) => {
                crate::exit::report(&e);
                failed = true;
            }
            Ok(()) => {}
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
    // As Docker: even -f never deletes the image of a running container. Removing its
    // name leaves it dangling (<none>); naming it by id is a conflict.
    if let Some(running) = running_holder(store, &holders) {
        if let Some(name) = &by_name {
            store.untag(name)?;
            println!("Untagged: {}", name.familiar());
            return Ok(());
        }
        bail!(
            "conflict: unable to delete {} (cannot be forced) - image is being used by running container {}; stop it first (`kiln stop {}`)",
            image.config_digest.short(),
            short_id(&running),
            short_id(&running)
        );
    }
    let names = store.remove_image_with_tags(&image.manifest_digest)?;
    for n in names {
        println!("Untagged: {}", n.familiar());
    }
    println!("Deleted: {}", image.config_digest);
    Ok(())
}

/// The first holder (`container:<id>`) that is a running container.
fn running_holder(store: &kiln_cache::Store, holders: &[String]) -> Option<String> {
    holders
        .iter()
        .filter_map(|h| h.strip_prefix("container:"))
        .find(|id| {
            lifecycle::find(store, id).is_ok_and(|rec| {
                lifecycle::monitor_alive(&rec)
                    && matches!(
                        rec.state,
                        State::Running | State::Restarting | State::Paused
                    )
            })
        })
        .map(str::to_string)
}

fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}
