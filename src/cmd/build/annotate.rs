//! `--annotation KEY=VALUE`: OCI annotations on the image manifest. The image is written
//! as usual, then its manifest rewritten with the annotations (a new manifest digest; the
//! config and layers are the same), the names moved to it, and the plain one dropped.

use std::collections::BTreeMap;

use anyhow::Context;
use kiln_cache::{ImageRecord, Reference, Store};

pub fn annotate(
    store: &Store,
    image: &ImageRecord,
    annotations: &BTreeMap<String, String>,
    names: &[Reference],
) -> anyhow::Result<ImageRecord> {
    if annotations.is_empty() {
        return Ok(image.clone());
    }
    let mut manifest = store
        .read_manifest(&image.manifest_digest)
        .with_context(|| format!("reading manifest {} to annotate it", image.manifest_digest))?;
    manifest
        .annotations
        .extend(annotations.iter().map(|(k, v)| (k.clone(), v.clone())));
    let _guard = store.write_guard()?;
    let m = store
        .content()
        .put_bytes(&serde_json::to_vec(&manifest)?)
        .context("writing the annotated manifest")?;
    let record = store.register_image(&m.digest, names)?;
    if m.digest != image.manifest_digest {
        // Nothing refers to the plain manifest: only its image record goes.
        if let Err(e) = store.delete_image(&image.manifest_digest) {
            tracing::debug!("keeping the image without annotations: {e}");
        }
    }
    Ok(record)
}
