//! Writing a list of entries as one gzip layer blob of the store: recorded as a layer blob
//! and leased before the write guard lets GC back in. Shared by the fetched remote sources
//! (`ADD <url>`, `ADD <git>`) and `--squash`.

use kiln_cache::layer::{write_layer, Compression, Entry, LayerError, TarOptions};
use kiln_cache::lease::Lease;
use kiln_cache::{Store, StoreError};

use super::chain::{Layer, LAYER_MEDIA_TYPE};

/// `entries` as a new layer. Mtimes are kept as given: reproducible builds clamp them
/// when the image is exported.
pub(crate) fn write_entries_layer<E>(
    store: &Store,
    lease: Option<&Lease>,
    entries: &[Entry],
) -> Result<Layer, E>
where
    E: From<LayerError> + From<StoreError>,
{
    let _guard = store.write_guard()?;
    let blob = write_layer(
        store.content(),
        entries,
        TarOptions::default(),
        Compression::Gzip,
    )?;
    store.record_layer_blob(&blob.diff_id, &blob.digest, LAYER_MEDIA_TYPE)?;
    // Leased while the write guard keeps GC out: nothing references the blob yet.
    if let Some(l) = lease {
        store.lease_blob(l, &blob.digest)?;
    }
    Ok(Layer {
        diff_id: blob.diff_id,
        blob: blob.digest,
        size: blob.size,
        media_type: LAYER_MEDIA_TYPE.into(),
        created: None,
    })
}
