//! Image records in the metadata database: registering a stored manifest under names,
//! listing, resolving a user's string to an image, tagging, untagging and deleting.

use rusqlite::{params, OptionalExtension, Transaction};

use crate::db::{now, DbError};
use crate::digest::Digest;
use crate::image::spec::{media, ImageConfig, Manifest};
use crate::image::time::parse_rfc3339;
use crate::reference::Reference;
use crate::store::{Store, StoreError};

/// Largest manifest/config kiln reads into memory.
pub const MAX_DOCUMENT: u64 = 8 << 20;

#[derive(Debug, Clone, PartialEq)]
pub struct ImageRecord {
    pub manifest_digest: Digest,
    /// The image id, as Docker shows it.
    pub config_digest: Digest,
    pub media_type: String,
    /// Stored bytes: manifest, config and compressed layers.
    pub size: u64,
    /// From the config's `created`, unix seconds.
    pub created: Option<i64>,
    pub added: i64,
    /// Fully normalised names pointing at this image, sorted.
    pub names: Vec<Reference>,
}

fn digest_col(s: String) -> rusqlite::Result<Digest> {
    Digest::parse(&s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn load_record(tx: &Transaction<'_>, manifest: &str) -> Result<Option<ImageRecord>, StoreError> {
    let row = tx
        .query_row(
            "SELECT manifest_digest, config_digest, media_type, size, created, added FROM images WHERE manifest_digest = ?1",
            [manifest],
            |r| {
                Ok(ImageRecord {
                    manifest_digest: digest_col(r.get(0)?)?,
                    config_digest: digest_col(r.get(1)?)?,
                    media_type: r.get(2)?,
                    size: r.get::<_, i64>(3)? as u64,
                    created: r.get(4)?,
                    added: r.get(5)?,
                    names: Vec::new(),
                })
            },
        )
        .optional()
        .map_err(DbError::from)?;
    let Some(mut rec) = row else { return Ok(None) };
    let mut st = tx
        .prepare_cached("SELECT name FROM tags WHERE manifest_digest = ?1 ORDER BY name")
        .map_err(DbError::from)?;
    let names = st
        .query_map([manifest], |r| r.get::<_, String>(0))
        .map_err(DbError::from)?;
    for n in names {
        // Names were normalised when written; one that no longer parses is skipped, not fatal.
        if let Ok(r) = Reference::parse(&n.map_err(DbError::from)?) {
            rec.names.push(r);
        }
    }
    Ok(Some(rec))
}

impl Store {
    pub fn read_manifest(&self, digest: &Digest) -> Result<Manifest, StoreError> {
        let bytes = self.content().read_limited(digest, MAX_DOCUMENT)?;
        serde_json::from_slice(&bytes).map_err(|source| StoreError::BadDocument {
            what: "manifest",
            digest: digest.clone(),
            source,
        })
    }

    pub fn read_config(&self, digest: &Digest) -> Result<ImageConfig, StoreError> {
        let bytes = self.content().read_limited(digest, MAX_DOCUMENT)?;
        serde_json::from_slice(&bytes).map_err(|source| StoreError::BadDocument {
            what: "image config",
            digest: digest.clone(),
            source,
        })
    }

    /// Record the image whose manifest (and config and layers) are already in the content
    /// store, and point `names` at it, all in one transaction.
    pub fn register_image(
        &self,
        manifest_digest: &Digest,
        names: &[Reference],
    ) -> Result<ImageRecord, StoreError> {
        let invalid = |reason: String| StoreError::InvalidImage {
            manifest: manifest_digest.clone(),
            reason,
        };
        let manifest_size = self.content().size(manifest_digest)?;
        let m = self.read_manifest(manifest_digest)?;
        if m.schema_version != 2 {
            return Err(invalid(format!(
                "schemaVersion {} is not supported (only 2)",
                m.schema_version
            )));
        }
        if let Some(mt) = &m.media_type {
            if !media::is_manifest(mt) {
                return Err(invalid(format!("media type {mt} is not an image manifest")));
            }
        }
        let config = self.read_config(&m.config.digest)?;
        let layers: Vec<_> = m
            .layers
            .iter()
            .filter(|l| l.media_type != media::DOCKER_FOREIGN_LAYER)
            .collect();
        if config.rootfs.diff_ids.len() != layers.len() {
            return Err(invalid(format!(
                "config lists {} diff ids but the manifest has {} layers",
                config.rootfs.diff_ids.len(),
                layers.len()
            )));
        }
        let mut size = manifest_size + self.content().size(&m.config.digest)?;
        for l in &layers {
            let actual = self.content().size(&l.digest)?;
            if actual != l.size {
                return Err(invalid(format!(
                    "layer {} is {actual} bytes, the manifest says {}",
                    l.digest, l.size
                )));
            }
            size += actual;
        }
        let created = config.created.as_deref().and_then(parse_rfc3339);
        let media_type = m
            .media_type
            .clone()
            .unwrap_or_else(|| media::OCI_MANIFEST.to_string());
        let md = manifest_digest.to_string();
        // Names that will newly point here get a `tag` event once committed.
        let retagged: Vec<&Reference> = names
            .iter()
            .filter(|n| {
                self.resolve_image(&n.to_string())
                    .map_or(true, |r| r.manifest_digest != *manifest_digest)
            })
            .collect();
        let rec = self.db().write(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO images (manifest_digest, config_digest, media_type, size, created, added) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![md, m.config.digest.to_string(), media_type, size as i64, created, now()],
            )
            .map_err(DbError::from)?;
            let mut blobs = vec![manifest_digest.clone(), m.config.digest.clone()];
            blobs.extend(layers.iter().map(|l| l.digest.clone()));
            for b in blobs {
                tx.execute("INSERT OR IGNORE INTO image_blobs (manifest_digest, blob_digest) VALUES (?1, ?2)", params![md, b.to_string()]).map_err(DbError::from)?;
            }
            for (l, d) in layers.iter().zip(&config.rootfs.diff_ids) {
                tx.execute(
                    "INSERT OR IGNORE INTO layer_blobs (diff_id, blob_digest, media_type) VALUES (?1, ?2, ?3)",
                    params![d.to_string(), l.digest.to_string(), l.media_type],
                )
                .map_err(DbError::from)?;
            }
            for n in names {
                set_tag(tx, n, &md)?;
            }
            load_record(tx, &md)?.ok_or_else(|| StoreError::ImageNotFound(md.clone()))
        })?;
        for n in retagged {
            super::events::record(
                self.root(),
                "tag",
                &rec.config_digest.to_string(),
                &n.to_string(),
            );
        }
        Ok(rec)
    }

    pub fn list_images(&self) -> Result<Vec<ImageRecord>, StoreError> {
        self.db().read(|tx| {
            let mut st = tx
                .prepare("SELECT manifest_digest FROM images ORDER BY added DESC, manifest_digest")
                .map_err(DbError::from)?;
            let ids: Vec<String> = st
                .query_map([], |r| r.get(0))
                .map_err(DbError::from)?
                .collect::<Result<_, _>>()
                .map_err(DbError::from)?;
            let mut out = Vec::new();
            for id in ids {
                out.extend(load_record(tx, &id)?);
            }
            Ok(out)
        })
    }

    pub fn image_by_manifest(&self, manifest: &Digest) -> Result<Option<ImageRecord>, StoreError> {
        self.db().read(|tx| load_record(tx, &manifest.to_string()))
    }

    /// Find the image a user means: a name (`busybox`, `busybox:1`, `reg/x@sha256:…`), a full
    /// image id or manifest digest, or a unique prefix of an image id.
    pub fn resolve_image(&self, input: &str) -> Result<ImageRecord, StoreError> {
        let by_name = Reference::parse(input).ok();
        self.db().read(|tx| {
            if let Some(r) = &by_name {
                let target: Option<String> = match (&r.tag, &r.digest) {
                    (_, Some(d)) => Some(d.to_string()),
                    (Some(_), None) => tx.query_row("SELECT manifest_digest FROM tags WHERE name = ?1", [r.to_string()], |row| row.get(0)).optional().map_err(DbError::from)?,
                    (None, None) => None,
                };
                if let Some(t) = target {
                    if let Some(rec) = load_record(tx, &t)? {
                        return Ok(rec);
                    }
                }
            }
            let hex = input.strip_prefix("sha256:").unwrap_or(input);
            if hex.len() < 4 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(StoreError::ImageNotFound(input.to_string()));
            }
            let pat = format!("sha256:{}%", hex.to_ascii_lowercase());
            let mut st = tx.prepare("SELECT DISTINCT manifest_digest FROM images WHERE config_digest LIKE ?1 OR manifest_digest = ?2").map_err(DbError::from)?;
            let full = format!("sha256:{hex}");
            let hits: Vec<String> = st.query_map(params![pat, full], |r| r.get(0)).map_err(DbError::from)?.collect::<Result<_, _>>().map_err(DbError::from)?;
            match hits.as_slice() {
                [] => Err(StoreError::ImageNotFound(input.to_string())),
                [one] => load_record(tx, one)?.ok_or_else(|| StoreError::ImageNotFound(input.to_string())),
                many => {
                    // Several manifests of one config (same image id) are the same image to a user.
                    let recs: Vec<ImageRecord> = many.iter().filter_map(|m| load_record(tx, m).ok().flatten()).collect();
                    let first_cfg = recs.first().map(|r| r.config_digest.clone());
                    if recs.iter().all(|r| Some(&r.config_digest) == first_cfg.as_ref()) {
                        if let Some(r) = recs.into_iter().max_by_key(|r| r.names.len()) {
                            return Ok(r);
                        }
                    }
                    Err(StoreError::Ambiguous { input: input.to_string(), candidates: many.join(", ") })
                }
            }
        })
    }

    pub fn tag_image(&self, image: &ImageRecord, name: &Reference) -> Result<(), StoreError> {
        let md = image.manifest_digest.to_string();
        self.db().write(|tx| set_tag(tx, name, &md))?;
        super::events::record(
            self.root(),
            "tag",
            &image.config_digest.to_string(),
            &name.to_string(),
        );
        Ok(())
    }

    /// Remove a name; returns the manifest it pointed at.
    pub fn untag(&self, name: &Reference) -> Result<Option<Digest>, StoreError> {
        let target = self.db().write(|tx| {
            let target: Option<String> = tx
                .query_row(
                    "DELETE FROM tags WHERE name = ?1 RETURNING manifest_digest",
                    [name.to_string()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(DbError::from)?;
            Ok::<_, StoreError>(target.and_then(|t| Digest::parse(&t).ok()))
        })?;
        if let Some(m) = &target {
            super::events::record(
                self.root(),
                "untag",
                &self.image_id_of(m),
                &name.to_string(),
            );
        }
        Ok(target)
    }

    /// Delete an image record once it has no names left. Its blobs and snapshots become
    /// garbage for the collector (unless another image shares them).
    pub fn delete_image(&self, manifest: &Digest) -> Result<bool, StoreError> {
        let id = self.image_id_of(manifest);
        let deleted = self.db().write(|tx| {
            let md = manifest.to_string();
            let tags: i64 = tx
                .query_row(
                    "SELECT count(*) FROM tags WHERE manifest_digest = ?1",
                    [&md],
                    |r| r.get(0),
                )
                .map_err(DbError::from)?;
            if tags > 0 {
                return Err(StoreError::InUse {
                    image: md,
                    holders: format!("{tags} tag(s)"),
                });
            }
            let n = tx
                .execute("DELETE FROM images WHERE manifest_digest = ?1", [&md])
                .map_err(DbError::from)?;
            Ok(n > 0)
        })?;
        if deleted {
            super::events::record(self.root(), "delete", &id, &id);
        }
        Ok(deleted)
    }
}

fn set_tag(tx: &Transaction<'_>, name: &Reference, manifest: &str) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO tags (name, manifest_digest, updated) VALUES (?1, ?2, ?3) ON CONFLICT(name) DO UPDATE SET manifest_digest = excluded.manifest_digest, updated = excluded.updated",
        params![name.to_string(), manifest, now()],
    )
    .map_err(DbError::from)?;
    Ok(())
}

impl Store {
    /// Remove an image and every name pointing at it, in one transaction; returns the names.
    pub fn remove_image_with_tags(&self, manifest: &Digest) -> Result<Vec<Reference>, StoreError> {
        let md = manifest.to_string();
        let id = self.image_id_of(manifest);
        let names = self.db().write(|tx| {
            let mut st = tx
                .prepare("DELETE FROM tags WHERE manifest_digest = ?1 RETURNING name")
                .map_err(DbError::from)?;
            let names: Vec<String> = st
                .query_map([&md], |r| r.get(0))
                .map_err(DbError::from)?
                .collect::<Result<_, _>>()
                .map_err(DbError::from)?;
            drop(st);
            tx.execute("DELETE FROM images WHERE manifest_digest = ?1", [&md])
                .map_err(DbError::from)?;
            Ok::<_, StoreError>(
                names
                    .iter()
                    .filter_map(|n| Reference::parse(n).ok())
                    .collect::<Vec<_>>(),
            )
        })?;
        for n in &names {
            super::events::record(self.root(), "untag", &id, &n.to_string());
        }
        super::events::record(self.root(), "delete", &id, &id);
        Ok(names)
    }
}
