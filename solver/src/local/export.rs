//! A build's result as an OCI image in the store: the config (the compiled image config,
//! the chain's diff ids, history as BuildKit writes it), the manifest, then the image record
//! and its names.

use kiln_cache::image::spec::{
    media, ContainerConfig, Descriptor, History, ImageConfig as OciConfig, Manifest, RootFs,
};
use kiln_cache::image::time::format_rfc3339;
use kiln_cache::{Digest, ImageRecord, Reference, Store, StoreError};
use kiln_frontend::graph::{HistoryEntry, ImageConfig, Platform};

use super::chain::Chain;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("encoding the image {what}: {source}")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// What goes into the image besides its layers.
#[derive(Debug, Clone)]
pub struct ImageMeta {
    pub config: ImageConfig,
    pub history: Vec<HistoryEntry>,
    pub platform: Platform,
    /// Unix seconds of the build (`created` of the image and of the new history entries).
    pub created: i64,
    /// `created` of the base image's history entries, matched by position and `created_by`.
    pub base_history: Vec<History>,
}

/// The BuildKit comment on history entries a Dockerfile build adds.
pub const HISTORY_COMMENT: &str = "buildkit.dockerfile.v0";

fn history(meta: &ImageMeta) -> Vec<History> {
    let created = format_rfc3339(meta.created);
    meta.history
        .iter()
        .enumerate()
        .map(|(i, h)| match meta.base_history.get(i) {
            Some(base) if base.created_by.as_deref() == Some(h.created_by.as_str()) => base.clone(),
            _ => History {
                created: Some(created.clone()),
                created_by: Some(h.created_by.clone()),
                author: None,
                comment: Some(if h.comment.is_empty() {
                    HISTORY_COMMENT.to_string()
                } else {
                    h.comment.clone()
                }),
                empty_layer: h.empty_layer,
            },
        })
        .collect()
}

/// The image config document for `chain`.
pub fn image_config(chain: &Chain, meta: &ImageMeta) -> Result<OciConfig, ExportError> {
    // Both sides use Docker's PascalCase field names, so JSON carries one into the other.
    let value = serde_json::to_value(&meta.config).map_err(|source| ExportError::Encode {
        what: "config",
        source,
    })?;
    let config: ContainerConfig =
        serde_json::from_value(value).map_err(|source| ExportError::Encode {
            what: "config",
            source,
        })?;
    Ok(OciConfig {
        created: Some(format_rfc3339(meta.created)),
        author: None,
        architecture: meta.platform.architecture.clone(),
        os: meta.platform.os.clone(),
        variant: meta.platform.variant.clone(),
        config: Some(config),
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: chain.diff_ids(),
        },
        history: history(meta),
        extra: Default::default(),
    })
}

/// Write config and manifest for `chain` and register the image under `names`.
pub fn write_image(
    store: &Store,
    chain: &Chain,
    meta: &ImageMeta,
    names: &[Reference],
) -> Result<ImageRecord, ExportError> {
    let config = image_config(chain, meta)?;
    let config_bytes = serde_json::to_vec(&config).map_err(|source| ExportError::Encode {
        what: "config",
        source,
    })?;
    let _guard = store.write_guard()?;
    let cfg = store
        .content()
        .put_bytes(&config_bytes)
        .map_err(StoreError::from)?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(media::OCI_MANIFEST.into()),
        config: Descriptor::new(media::OCI_CONFIG, cfg.digest, cfg.size),
        layers: chain
            .layers
            .iter()
            .map(|l| Descriptor::new(&l.media_type, l.blob.clone(), l.size))
            .collect(),
        annotations: Default::default(),
        extra: Default::default(),
    };
    let bytes = serde_json::to_vec(&manifest).map_err(|source| ExportError::Encode {
        what: "manifest",
        source,
    })?;
    let m = store
        .content()
        .put_bytes(&bytes)
        .map_err(StoreError::from)?;
    let digest: Digest = m.digest;
    Ok(store.register_image(&digest, names)?)
}
