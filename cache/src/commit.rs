//! Committing new content: a layer from entries (an overlay upper dir, a tree diff) becomes a
//! blob and, unpacked on its parent chain, a snapshot; a config plus layers becomes a
//! registered image. Builds pass a lease so GC keeps their work until the image exists.

use rusqlite::params;

use crate::db::DbError;
use crate::digest::Digest;
use crate::image::records::ImageRecord;
use crate::image::spec::{media, Descriptor, ImageConfig, Manifest};
use crate::layer::{
    self, apply_layer_blob, ApplyMode, ApplyOptions, Compression, Entry, LayerBlob, TarOptions,
};
use crate::lease::Lease;
use crate::reference::Reference;
use crate::store::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedLayer {
    pub blob: LayerBlob,
    /// Snapshot id of the layer on its parent chain (`sha256:<chain id>`).
    pub chain_id: Digest,
}

impl Store {
    /// Write a layer and unpack it as the snapshot above `parent` (a chain id, `None` for a
    /// base layer). With a lease, the blob and snapshot are kept until the lease ends.
    pub fn commit_layer(
        &self,
        parent: Option<&Digest>,
        entries: &[Entry],
        tar: TarOptions,
        compression: Compression,
        lease: Option<&Lease>,
    ) -> Result<CommittedLayer, StoreError> {
        let blob = {
            let _w = self.write_guard()?;
            let blob = layer::write_layer(self.content(), entries, tar, compression)?;
            self.db().write(|tx| {
                tx.execute(
                    "INSERT OR IGNORE INTO layer_blobs (diff_id, blob_digest, media_type) VALUES (?1, ?2, ?3)",
                    params![blob.diff_id.to_string(), blob.digest.to_string(), blob.media_type],
                )
                .map_err(DbError::from)?;
                Ok::<_, StoreError>(())
            })?;
            if let Some(l) = lease {
                self.lease_blob(l, &blob.digest)?;
            }
            blob
        };
        let chain_id = match parent {
            None => blob.diff_id.clone(),
            Some(p) => Digest::of_bytes(format!("{p} {}", blob.diff_id).as_bytes()),
        };
        let id = chain_id.to_string();
        if let Some(l) = lease {
            // Before the snapshot exists, so no GC pass can find it unprotected.
            self.lease_snapshot(l, &id)?;
        }
        let opts = ApplyOptions {
            mode: ApplyMode::Overlay,
            allow_devices: self.allow_devices(),
        };
        let parent_id = parent.map(|p| p.to_string());
        self.ensure_snapshot(&id, parent_id.as_deref(), &blob.diff_id, |dir| {
            Ok(apply_layer_blob(
                self.content(),
                &blob.digest,
                Some(&blob.diff_id),
                dir,
                opts,
            )?)
        })?;
        Ok(CommittedLayer { blob, chain_id })
    }

    /// Write the config and an OCI manifest for `layers` (bottom first) and register the image
    /// under `names`. The config's `rootfs.diff_ids` must list the layers' diff ids.
    pub fn commit_image(
        &self,
        config: &ImageConfig,
        layers: &[LayerBlob],
        names: &[Reference],
    ) -> Result<ImageRecord, StoreError> {
        let want: Vec<&Digest> = layers.iter().map(|l| &l.diff_id).collect();
        if config.rootfs.diff_ids.iter().collect::<Vec<_>>() != want {
            return Err(StoreError::Archive(
                "image config rootfs.diff_ids do not match the layers being committed".into(),
            ));
        }
        let _w = self.write_guard()?;
        let cfg_bytes = serde_json::to_vec(config)
            .map_err(|e| StoreError::Archive(format!("encoding config: {e}")))?;
        let cfg = self.content().put_bytes(&cfg_bytes)?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(media::OCI_MANIFEST.into()),
            config: Descriptor::new(media::OCI_CONFIG, cfg.digest, cfg.size),
            layers: layers
                .iter()
                .map(|l| Descriptor::new(&l.media_type, l.digest.clone(), l.size))
                .collect(),
            annotations: Default::default(),
            extra: Default::default(),
        };
        let m_bytes = serde_json::to_vec(&manifest)
            .map_err(|e| StoreError::Archive(format!("encoding manifest: {e}")))?;
        let m = self.content().put_bytes(&m_bytes)?;
        self.register_image(&m.digest, names)
    }
}
