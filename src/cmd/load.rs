//! `kiln load [-i FILE]`: Docker archives, OCI archives and OCI layout dirs, compressed or not.

use clap::Args;
use kiln_cache::archive::load::{load_path, load_stream};

use super::store_open::open_store;
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Archive file or OCI layout directory (default: stdin)
    #[arg(short, long)]
    pub input: Option<std::path::PathBuf>,
    /// Print nothing
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn run(global: &GlobalArgs, args: LoadArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    let loaded = match &args.input {
        Some(p) => load_path(&store, p)?,
        None => load_stream(&store, std::io::stdin().lock())?,
    };
    // Unpack now, as Docker does on load, so the first run does not pay for it.
    for l in &loaded {
        super::unpack::unpack_or_discard(&store, &l.image)?;
        // As `docker load`: a `load` image event per image (per name it was loaded as).
        let id = l.image.config_digest.to_string();
        if l.names.is_empty() {
            store.image_event("load", &id, &id);
        }
        for n in &l.names {
            store.image_event("load", &id, &n.to_string());
        }
    }
    if !args.quiet {
        for l in loaded {
            if l.names.is_empty() {
                println!("Loaded image ID: {}", l.image.config_digest);
            }
            for n in l.names {
                println!("Loaded image: {}", n.familiar());
            }
        }
    }
    Ok(0)
}
