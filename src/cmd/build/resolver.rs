//! Base images for the compiler, from the store (pulled from their registry first when
//! missing, or always with `--pull`): config, history and manifest digest. It remembers
//! what it resolved so the final image can keep the base history's times.

use std::sync::Mutex;

use kiln_cache::image::spec::History;
use kiln_cache::{Store, StoreError};
use kiln_frontend::compile::{ImageResolver, ResolveError, ResolvedImage};
use kiln_frontend::graph::{HistoryEntry, ImageConfig, Platform};

use super::pull::BasePuller;

pub struct StoreResolver<'a> {
    pub store: &'a Store,
    /// Histories of the images resolved, as stored (with `created`).
    pub seen: Mutex<Vec<Vec<History>>>,
    /// Fetches base images the store lacks; `None` reads the store only.
    puller: Option<BasePuller>,
}

impl<'a> StoreResolver<'a> {
    pub fn new(store: &'a Store) -> Self {
        StoreResolver {
            store,
            seen: Mutex::new(Vec::new()),
            puller: None,
        }
    }

    pub fn with_puller(mut self, puller: BasePuller) -> Self {
        self.puller = Some(puller);
        self
    }

    /// The stored history of the base image whose entries start `history`, if any.
    pub fn base_history(&self, history: &[HistoryEntry]) -> Vec<History> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.iter()
            .filter(|h| {
                h.len() <= history.len()
                    && h.iter()
                        .zip(history)
                        .all(|(a, b)| a.created_by.as_deref().unwrap_or("") == b.created_by)
            })
            .max_by_key(|h| h.len())
            .cloned()
            .unwrap_or_default()
    }
}

impl ImageResolver for StoreResolver<'_> {
    fn resolve(
        &self,
        reference: &str,
        platform: &Platform,
    ) -> Result<Option<ResolvedImage>, ResolveError> {
        if let Some(p) = self
            .puller
            .as_ref()
            .filter(|p| p.wants(self.store, reference))
        {
            p.pull(self.store, reference, platform).map_err(|e| {
                let message = if self.store.resolve_image(reference).is_ok() {
                    format!("--pull: re-resolving {reference} failed: {e:#}")
                } else {
                    format!(
                        "image {reference} not found in the store; load or pull it (kiln load -i FILE, kiln pull {reference}); pulling it from its registry failed: {e:#}"
                    )
                };
                ResolveError { message }
            })?;
        }
        let img = match self.store.resolve_image(reference) {
            Ok(i) => i,
            Err(StoreError::ImageNotFound(_)) => {
                return Err(ResolveError {
                    message: format!(
                        "image {reference} not found in the store; load or pull it (kiln load -i FILE, kiln pull {reference})"
                    ),
                })
            }
            Err(e) => return Err(ResolveError { message: e.to_string() }),
        };
        let cfg = self
            .store
            .read_config(&img.config_digest)
            .map_err(|e| ResolveError {
                message: e.to_string(),
            })?;
        let config: ImageConfig = match &cfg.config {
            Some(c) => serde_json::to_value(c)
                .map(drop_nulls)
                .and_then(serde_json::from_value)
                .map_err(|e| ResolveError {
                    message: format!("image {reference}: config is not usable: {e}"),
                })?,
            None => ImageConfig::default(),
        };
        let history = cfg
            .history
            .iter()
            .map(|h| HistoryEntry {
                created_by: h.created_by.clone().unwrap_or_default(),
                comment: h.comment.clone().unwrap_or_default(),
                empty_layer: h.empty_layer,
            })
            .collect();
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(cfg.history.clone());
        Ok(Some(ResolvedImage {
            config,
            history,
            digest: Some(img.manifest_digest.to_string()),
            empty: cfg.rootfs.diff_ids.is_empty(),
        }))
    }
}

/// Docker writes `"OnBuild": null` and the like; absent and null mean the same here.
fn drop_nulls(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            serde_json::Value::Object(m.into_iter().filter(|(_, v)| !v.is_null()).collect())
        }
        other => other,
    }
}
