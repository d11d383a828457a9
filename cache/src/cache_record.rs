//! Build cache records: a cache key (computed by the solver) maps to its result, a snapshot
//! and/or a layer blob. The store keeps them, reports their use and prunes them by policy.

use rusqlite::{params, OptionalExtension, Row};

use crate::db::{now, DbError};
use crate::digest::Digest;
use crate::store::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheRecord {
    pub key: String,
    pub snapshot_id: Option<String>,
    pub blob: Option<Digest>,
    pub description: String,
    /// Bytes on disk the record keeps alive (its snapshot's size).
    pub size: u64,
    pub created: i64,
    pub last_used: i64,
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<CacheRecord> {
    Ok(CacheRecord {
        key: r.get(0)?,
        snapshot_id: r.get(1)?,
        blob: r
            .get::<_, Option<String>>(2)?
            .and_then(|s| Digest::parse(&s).ok()),
        description: r.get(3)?,
        size: r.get::<_, i64>(4)? as u64,
        created: r.get(5)?,
        last_used: r.get(6)?,
    })
}

const COLS: &str = "key, snapshot_id, blob_digest, description, size, created, last_used";

impl Store {
    /// Record (or replace) a cache result. Its snapshot/blob must already exist.
    pub fn put_cache_record(
        &self,
        key: &str,
        snapshot_id: Option<&str>,
        blob: Option<&Digest>,
        description: &str,
    ) -> Result<CacheRecord, StoreError> {
        self.put_cache_record_with_refs(key, snapshot_id, blob, description, &[])
    }

    /// Like [`Store::put_cache_record`], also keeping `refs` (blobs the result's own blob
    /// points at, such as the layers of a build state) alive while the record exists.
    pub fn put_cache_record_with_refs(
        &self,
        key: &str,
        snapshot_id: Option<&str>,
        blob: Option<&Digest>,
        description: &str,
        refs: &[Digest],
    ) -> Result<CacheRecord, StoreError> {
        self.put_cache_record_leased(key, snapshot_id, blob, description, refs, None)
    }

    /// [`Store::put_cache_record_with_refs`] that also adds the record's blob and `refs`
    /// to `lease` in the same transaction: a build step's result costs one commit.
    pub fn put_cache_record_leased(
        &self,
        key: &str,
        snapshot_id: Option<&str>,
        blob: Option<&Digest>,
        description: &str,
        refs: &[Digest],
        lease: Option<&crate::lease::Lease>,
    ) -> Result<CacheRecord, StoreError> {
        let size = match snapshot_id {
            Some(id) => crate::fsutil::disk_usage(&self.snapshot_path(id)).unwrap_or(0),
            None => blob
                .map(|b| self.content().size(b))
                .transpose()?
                .unwrap_or(0),
        };
        let t = now();
        self.db().write(|tx| {
            tx.execute(
                "INSERT OR REPLACE INTO cache_records (key, snapshot_id, blob_digest, description, size, created, last_used) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                params![key, snapshot_id, blob.map(|b| b.to_string()), description, size as i64, t],
            )
            .map_err(DbError::from)?;
            tx.execute("DELETE FROM cache_record_blobs WHERE key = ?1", [key])
                .map_err(DbError::from)?;
            for r in refs {
                tx.execute(
                    "INSERT OR IGNORE INTO cache_record_blobs (key, blob_digest) VALUES (?1, ?2)",
                    params![key, r.to_string()],
                )
                .map_err(DbError::from)?;
            }
            if let Some(l) = lease {
                crate::lease::insert_lease_blobs(tx, l, refs.iter().chain(blob))?;
            }
            Ok::<_, StoreError>(())
        })?;
        Ok(CacheRecord {
            key: key.into(),
            snapshot_id: snapshot_id.map(String::from),
            blob: blob.cloned(),
            description: description.into(),
            size,
            created: t,
            last_used: t,
        })
    }

    /// Look a key up, marking it used (LRU pruning keeps what builds hit).
    pub fn get_cache_record(&self, key: &str) -> Result<Option<CacheRecord>, StoreError> {
        self.db().write(|tx| {
            tx.execute(
                "UPDATE cache_records SET last_used = ?2 WHERE key = ?1",
                params![key, now()],
            )
            .map_err(DbError::from)?;
            let r = tx
                .query_row(
                    &format!("SELECT {COLS} FROM cache_records WHERE key = ?1"),
                    [key],
                    from_row,
                )
                .optional()
                .map_err(DbError::from)?;
            Ok::<_, StoreError>(r)
        })
    }

    pub fn list_cache_records(&self) -> Result<Vec<CacheRecord>, StoreError> {
        self.db().read(|tx| {
            let mut st = tx
                .prepare(&format!(
                    "SELECT {COLS} FROM cache_records ORDER BY last_used, key"
                ))
                .map_err(DbError::from)?;
            let v = st
                .query_map([], from_row)
                .map_err(DbError::from)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(DbError::from)?;
            Ok(v)
        })
    }

    pub fn delete_cache_records(&self, keys: &[String]) -> Result<(), StoreError> {
        self.db().write(|tx| {
            for k in keys {
                tx.execute("DELETE FROM cache_record_blobs WHERE key = ?1", [k])
                    .map_err(DbError::from)?;
                tx.execute("DELETE FROM cache_records WHERE key = ?1", [k])
                    .map_err(DbError::from)?;
            }
            Ok::<_, StoreError>(())
        })
    }
}
