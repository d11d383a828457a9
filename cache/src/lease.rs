//! Leases: a running build (or pull) marks blobs and snapshots it is still using, so the
//! garbage collector keeps them until the lease ends or expires (a crashed build's lease
//! expires on its own).

use std::time::Duration;

use rusqlite::params;

use crate::db::{now, DbError};
use crate::digest::Digest;
use crate::store::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub id: String,
}

impl Store {
    /// Create a lease that expires after `ttl` (or never, for `None`).
    pub fn create_lease(&self, id: &str, ttl: Option<Duration>) -> Result<Lease, StoreError> {
        let t = now();
        let expires = ttl.map(|d| t + d.as_secs() as i64);
        self.db().write(|tx| {
            tx.execute(
                "INSERT INTO leases (id, created, expires) VALUES (?1, ?2, ?3)",
                params![id, t, expires],
            )
            .map_err(DbError::from)?;
            Ok::<_, StoreError>(())
        })?;
        Ok(Lease { id: id.to_string() })
    }

    pub fn lease_blob(&self, lease: &Lease, blob: &Digest) -> Result<(), StoreError> {
        self.lease_resource(lease, "blob", &blob.to_string())
    }

    /// Lease several blobs in one transaction: a cached step holds every layer of its
    /// chain, and one commit (one fsync) per layer made no-op rebuilds pay per step.
    pub fn lease_blobs<'a>(
        &self,
        lease: &Lease,
        blobs: impl IntoIterator<Item = &'a Digest>,
    ) -> Result<(), StoreError> {
        self.db()
            .write(|tx| insert_lease_blobs(tx, lease, blobs).map_err(StoreError::from))
    }

    pub fn lease_snapshot(&self, lease: &Lease, snapshot_id: &str) -> Result<(), StoreError> {
        self.lease_resource(lease, "snapshot", snapshot_id)
    }

    fn lease_resource(&self, lease: &Lease, kind: &str, resource: &str) -> Result<(), StoreError> {
        self.db().write(|tx| {
            tx.execute("INSERT OR IGNORE INTO lease_resources (lease_id, kind, resource) VALUES (?1, ?2, ?3)", params![lease.id, kind, resource]).map_err(DbError::from)?;
            Ok::<_, StoreError>(())
        })
    }

    pub fn delete_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        self.db().write(|tx| {
            tx.execute("DELETE FROM leases WHERE id = ?1", [&lease.id])
                .map_err(DbError::from)?;
            Ok::<_, StoreError>(())
        })
    }
}

/// Add `blobs` to `lease` inside the caller's transaction, so a step's records and its
/// lease rows commit together (one fsync instead of one each).
pub(crate) fn insert_lease_blobs<'a>(
    tx: &rusqlite::Transaction<'_>,
    lease: &Lease,
    blobs: impl IntoIterator<Item = &'a Digest>,
) -> Result<(), DbError> {
    let mut st = tx.prepare_cached(
        "INSERT OR IGNORE INTO lease_resources (lease_id, kind, resource) VALUES (?1, 'blob', ?2)",
    )?;
    for b in blobs {
        st.execute(params![lease.id, b.to_string()])?;
    }
    Ok(())
}
