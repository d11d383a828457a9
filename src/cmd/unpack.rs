//! Unpacking a just loaded or imported image into snapshots; an image whose layers cannot be
//! applied (corrupt, or hostile) is removed again rather than left half usable.

use anyhow::Context;
use kiln_cache::{ImageRecord, Store};

pub fn unpack_or_discard(store: &Store, image: &ImageRecord) -> anyhow::Result<()> {
    let Err(err) = store.prepare_snapshots(image) else {
        return Ok(());
    };
    let removed = store.remove_image_with_tags(&image.manifest_digest);
    let what = match removed {
        Ok(_) => "the image was not kept",
        Err(_) => "removing the image failed too; run `kiln system check --repair`",
    };
    Err(err).with_context(|| format!("unpacking the layers of {} ({what})", image.config_digest))
}
