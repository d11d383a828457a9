//! Where else on a registry a cache's blobs already are, so an export mounts them into the
//! cache's repository (a cross-repository mount: no bytes move) instead of uploading them:
//! the repositories of the caches this build imported, and those of images in the store
//! named on the same registry (a base image pulled from there, an image pushed there).
//! A wrong guess costs one request: the registry then starts an ordinary upload.

use std::collections::HashMap;

use kiln_cache::{Digest, Store};
use kiln_registry::{ReferenceExt, Repository};

use super::RemoteCaches;

/// A repository of the target's registry per blob digest.
#[derive(Debug, Default, Clone)]
pub struct MountSources {
    by_blob: HashMap<Digest, Repository>,
}

impl MountSources {
    /// Sources for pushing to `target`: store images named on its registry first, then the
    /// imported caches (which certainly hold their blobs) override them.
    pub fn for_target(store: &Store, imported: &RemoteCaches, target: &Repository) -> Self {
        let mut out = MountSources::default();
        out.add_store_images(store, target);
        for cache in &imported.caches {
            let Some(repo) = cache.repository() else {
                continue;
            };
            if !other_repo_of(&repo, target) {
                continue;
            }
            for key in cache.keys() {
                for l in cache
                    .record(key)
                    .map(|c| c.layers.as_slice())
                    .unwrap_or(&[])
                {
                    out.by_blob.insert(l.blob.clone(), repo.clone());
                }
            }
        }
        out
    }

    fn add_store_images(&mut self, store: &Store, target: &Repository) {
        let images = match store.list_images() {
            Ok(i) => i,
            Err(e) => {
                tracing::debug!("listing images for cross-repository mounts: {e}");
                return;
            }
        };
        for image in images {
            let Some(repo) = image
                .names
                .iter()
                .map(|n| n.repo())
                .find(|r| other_repo_of(r, target))
            else {
                continue;
            };
            // An index (or an unreadable manifest) has no layers of its own to offer.
            let Ok(manifest) = store.read_manifest(&image.manifest_digest) else {
                continue;
            };
            for l in manifest.layers {
                self.by_blob.insert(l.digest, repo.clone());
            }
        }
    }

    /// The repository to mount `digest` from, if any is known.
    pub fn get(&self, digest: &Digest) -> Option<Repository> {
        self.by_blob.get(digest).cloned()
    }

    pub fn len(&self) -> usize {
        self.by_blob.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_blob.is_empty()
    }
}

fn other_repo_of(repo: &Repository, target: &Repository) -> bool {
    repo.registry == target.registry && repo.name != target.name
}
