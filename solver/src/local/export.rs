//! A build's result as an OCI image in the store: the config (the compiled image config,
//! the chain's diff ids, history as BuildKit writes it), the manifest, then the image record
//! and its names.
//!
//! Times are BuildKit's: a new history entry with a layer is dated when its step ran (the
//! layer's `created`, kept with the cache record), so a fully cached rebuild writes the same
//! config and image id; an entry without a layer of its own takes the time of the layer
//! before it (before the first new layer: that layer's); the image is as new as its
//! newest entry. SOURCE_DATE_EPOCH pins every new entry and the image instead.

use kiln_cache::image::spec::{
    media, ContainerConfig, Descriptor, History, ImageConfig as OciConfig, Manifest, RootFs,
};
use kiln_cache::image::time::{format_rfc3339, parse_rfc3339};
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
    /// Unix seconds of the build: the time of what no layer or base entry dates (an image
    /// without history, `FROM scratch` with metadata only).
    pub created: i64,
    /// SOURCE_DATE_EPOCH: `created` of the image and of every new history entry.
    pub source_date_epoch: Option<i64>,
    /// `created` of the base image's history entries, matched by position and `created_by`.
    pub base_history: Vec<History>,
}

/// The BuildKit comment on history entries a Dockerfile build adds.
pub const HISTORY_COMMENT: &str = "buildkit.dockerfile.v0";

/// The base image's entry for position `i` of the history, when `meta` has one there.
fn base_entry(meta: &ImageMeta, i: usize) -> Option<&History> {
    let h = meta.history.get(i)?;
    meta.base_history
        .get(i)
        .filter(|b| b.created_by.as_deref() == Some(h.created_by.as_str()))
}

/// Unix seconds of each history entry (`None`: nothing dates it). Entries that are not
/// `empty_layer` pair with the chain's layers in order, as Docker reads them.
fn entry_times(chain: &Chain, meta: &ImageMeta) -> Vec<Option<i64>> {
    let mut layers = chain.layers.iter();
    let mut times: Vec<Option<i64>> = meta
        .history
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let layer = if h.empty_layer { None } else { layers.next() };
            match base_entry(meta, i) {
                Some(base) => base.created.as_deref().and_then(parse_rfc3339),
                None => match meta.source_date_epoch {
                    Some(epoch) => Some(epoch),
                    None => layer.and_then(|l| l.created),
                },
            }
        })
        .collect();
    // New entries without a time: the new layer's before them, else the first new one's
    // (not a base layer's), else the base's last, else the build's.
    let own: Vec<bool> = (0..times.len())
        .map(|i| base_entry(meta, i).is_none())
        .collect();
    let dated = |new: bool| {
        times
            .iter()
            .zip(&own)
            .filter(move |(_, o)| **o == new)
            .filter_map(|(t, _)| *t)
    };
    let first_new = dated(true).next();
    let base_last = dated(false).next_back();
    let mut previous = None;
    for (t, _) in times.iter_mut().zip(&own).filter(|(_, o)| **o) {
        match t {
            Some(v) => previous = Some(*v),
            None => *t = Some(previous.or(first_new).or(base_last).unwrap_or(meta.created)),
        }
    }
    times
}

fn history(meta: &ImageMeta, times: &[Option<i64>]) -> Vec<History> {
    meta.history
        .iter()
        .enumerate()
        .map(|(i, h)| match base_entry(meta, i) {
            Some(base) => base.clone(),
            None => History {
                created: Some(format_rfc3339(
                    times.get(i).copied().flatten().unwrap_or(meta.created),
                )),
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

/// The image's `created`: the epoch when pinned, else its newest history entry, else the
/// build's time.
fn image_created(meta: &ImageMeta, times: &[Option<i64>]) -> i64 {
    meta.source_date_epoch
        .or_else(|| times.iter().flatten().copied().max())
        .unwrap_or(meta.created)
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
    let times = entry_times(chain, meta);
    Ok(OciConfig {
        created: Some(format_rfc3339(image_created(meta, &times))),
        author: None,
        architecture: meta.platform.architecture.clone(),
        os: meta.platform.os.clone(),
        variant: meta.platform.variant.clone(),
        config: Some(config),
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: chain.diff_ids(),
        },
        history: history(meta, &times),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::chain::test_layer as layer;

    fn entry(by: &str, empty_layer: bool) -> HistoryEntry {
        HistoryEntry {
            created_by: by.into(),
            comment: String::new(),
            empty_layer,
        }
    }

    const BASE_TIME: &str = "2024-01-01T00:00:00Z";

    /// A base image (one layer) under `own` entries; `times` date the own layers.
    fn meta(own: &[HistoryEntry]) -> ImageMeta {
        let mut history = vec![entry("base", false)];
        history.extend_from_slice(own);
        ImageMeta {
            config: ImageConfig::default(),
            history,
            platform: Platform::new("linux", "amd64", None),
            created: 9_000_000_000,
            source_date_epoch: None,
            base_history: vec![History {
                created: Some(BASE_TIME.into()),
                created_by: Some("base".into()),
                ..Default::default()
            }],
        }
    }

    fn times(chain: &Chain, meta: &ImageMeta) -> (Vec<String>, String) {
        let config = image_config(chain, meta).unwrap();
        let history = config
            .history
            .iter()
            .map(|h| h.created.clone().unwrap_or_default())
            .collect();
        (history, config.created.unwrap_or_default())
    }

    #[test]
    fn new_entries_take_their_layers_times_and_metadata_its_neighbours() {
        let m = meta(&[
            entry("ENV a=1", true),
            entry("RUN one", false),
            entry("CMD x", true),
            entry("RUN two", false),
        ]);
        let chain = Chain {
            layers: vec![layer(0, None), layer(1, Some(1_000)), layer(2, Some(2_000))],
        };
        let (history, created) = times(&chain, &m);
        let (t1, t2) = (format_rfc3339(1_000), format_rfc3339(2_000));
        // ENV precedes the first new layer: its time, not the base's; CMD follows RUN one.
        assert_eq!(
            history,
            vec![BASE_TIME.into(), t1.clone(), t1.clone(), t1, t2]
        );
        // The newest entry dates the image: the base's here (2024 is newer than 1970).
        assert_eq!(created, BASE_TIME);
        let chain = Chain {
            layers: vec![
                layer(0, None),
                layer(1, Some(1_800_000_000)),
                layer(2, Some(1_700_000_000)),
            ],
        };
        assert_eq!(times(&chain, &m).1, format_rfc3339(1_800_000_000));
    }

    #[test]
    fn the_epoch_pins_new_entries_and_the_image() {
        let mut m = meta(&[entry("RUN one", false), entry("CMD x", true)]);
        m.source_date_epoch = Some(1_700_000_000);
        let chain = Chain {
            layers: vec![layer(0, None), layer(1, Some(1_800_000_000))],
        };
        let (history, created) = times(&chain, &m);
        let epoch = format_rfc3339(1_700_000_000);
        assert_eq!(
            history,
            vec![BASE_TIME.into(), epoch.clone(), epoch.clone()]
        );
        assert_eq!(created, epoch);
    }

    #[test]
    fn undated_builds_fall_back_to_the_base_then_the_build_time() {
        // Metadata only on a base: the base's time, so rebuilding it changes nothing.
        let m = meta(&[entry("ENV a=1", true)]);
        let chain = Chain {
            layers: vec![layer(0, None)],
        };
        let (history, created) = times(&chain, &m);
        assert_eq!(history, vec![BASE_TIME.to_string(), BASE_TIME.into()]);
        assert_eq!(created, BASE_TIME);
        // Nothing dated at all (`FROM scratch` with metadata): the build's time.
        let mut m = m;
        m.history = vec![entry("ENV a=1", true)];
        m.base_history.clear();
        let (history, created) = times(&Chain::default(), &m);
        assert_eq!(history, vec![format_rfc3339(9_000_000_000)]);
        assert_eq!(created, format_rfc3339(9_000_000_000));
    }
}
