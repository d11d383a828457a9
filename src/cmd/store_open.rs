//! Opening the store named by `--root` for the image commands.

use anyhow::Context;
use kiln_cache::Store;

use crate::cli::GlobalArgs;

pub fn open_store(global: &GlobalArgs) -> anyhow::Result<Store> {
    Store::open(&global.root).with_context(|| {
        format!(
            "opening kiln's store at {} (set --root or KILN_ROOT)",
            global.root.display()
        )
    })
}
