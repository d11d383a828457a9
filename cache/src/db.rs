//! The metadata database (SQLite in WAL mode, shared by every kiln process using the store):
//! opening, versioned schema migrations, and the one-transaction-per-change helper.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tracing::info;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("metadata database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("metadata database {path} has schema version {found}, newer than this kiln knows ({known}); upgrade kiln")]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("migrating metadata database {path} to schema version {version}: {source}")]
    Migrate {
        path: PathBuf,
        version: i64,
        source: rusqlite::Error,
    },
    #[error("metadata database query failed: {0}")]
    Sql(#[from] rusqlite::Error),
}

/// Schema migrations, applied in order; entry N brings the schema to version N+1. Add tables
/// (containers, volumes, ...) by appending an entry, never by editing an applied one.
const MIGRATIONS: &[&str] = &[
    // v1: images and tags, layer bookkeeping, snapshots, cache records, leases.
    r#"
    CREATE TABLE images (
        manifest_digest TEXT PRIMARY KEY,
        config_digest   TEXT NOT NULL,
        media_type      TEXT NOT NULL,
        size            INTEGER NOT NULL,
        created         INTEGER,
        added           INTEGER NOT NULL
    );
    CREATE INDEX images_config ON images(config_digest);
    CREATE TABLE image_blobs (
        manifest_digest TEXT NOT NULL REFERENCES images(manifest_digest) ON DELETE CASCADE,
        blob_digest     TEXT NOT NULL,
        PRIMARY KEY (manifest_digest, blob_digest)
    );
    CREATE INDEX image_blobs_blob ON image_blobs(blob_digest);
    CREATE TABLE tags (
        name            TEXT PRIMARY KEY,
        manifest_digest TEXT NOT NULL REFERENCES images(manifest_digest),
        updated         INTEGER NOT NULL
    );
    CREATE INDEX tags_manifest ON tags(manifest_digest);
    CREATE TABLE layer_blobs (
        diff_id     TEXT NOT NULL,
        blob_digest TEXT NOT NULL,
        media_type  TEXT NOT NULL,
        PRIMARY KEY (diff_id, blob_digest)
    );
    CREATE TABLE snapshots (
        id        TEXT PRIMARY KEY,
        parent    TEXT,
        diff_id   TEXT,
        kind      TEXT NOT NULL CHECK (kind IN ('layer', 'flat')),
        size      INTEGER NOT NULL,
        created   INTEGER NOT NULL,
        last_used INTEGER NOT NULL
    );
    CREATE TABLE snapshot_refs (
        snapshot_id TEXT NOT NULL REFERENCES snapshots(id),
        holder      TEXT NOT NULL,
        PRIMARY KEY (snapshot_id, holder)
    );
    CREATE TABLE cache_records (
        key         TEXT PRIMARY KEY,
        snapshot_id TEXT,
        blob_digest TEXT,
        description TEXT NOT NULL DEFAULT '',
        size        INTEGER NOT NULL DEFAULT 0,
        created     INTEGER NOT NULL,
        last_used   INTEGER NOT NULL
    );
    CREATE TABLE leases (
        id      TEXT PRIMARY KEY,
        created INTEGER NOT NULL,
        expires INTEGER
    );
    CREATE TABLE lease_resources (
        lease_id TEXT NOT NULL REFERENCES leases(id) ON DELETE CASCADE,
        kind     TEXT NOT NULL CHECK (kind IN ('blob', 'snapshot')),
        resource TEXT NOT NULL,
        PRIMARY KEY (lease_id, kind, resource)
    );
    "#,
    // v2: containers and volumes (kiln-runtime). `config` is the runtime's JSON
    // ContainerConfig; state columns are written by the container's monitor process.
    r#"
    CREATE TABLE containers (
        id             TEXT PRIMARY KEY,
        name           TEXT NOT NULL UNIQUE,
        image          TEXT NOT NULL,
        image_digest   TEXT NOT NULL,
        snapshot_id    TEXT,
        config         TEXT NOT NULL,
        state          TEXT NOT NULL,
        pid            INTEGER NOT NULL DEFAULT 0,
        monitor_pid    INTEGER NOT NULL DEFAULT 0,
        monitor_start  INTEGER NOT NULL DEFAULT 0,
        exit_code      INTEGER NOT NULL DEFAULT 0,
        oom_killed     INTEGER NOT NULL DEFAULT 0,
        error          TEXT NOT NULL DEFAULT '',
        restart_count  INTEGER NOT NULL DEFAULT 0,
        stop_requested INTEGER NOT NULL DEFAULT 0,
        created        TEXT NOT NULL,
        started_at     TEXT NOT NULL DEFAULT '',
        finished_at    TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE volumes (
        name      TEXT PRIMARY KEY,
        anonymous INTEGER NOT NULL DEFAULT 0,
        labels    TEXT NOT NULL DEFAULT '{}',
        created   TEXT NOT NULL
    );
    CREATE TABLE container_volumes (
        container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
        volume       TEXT NOT NULL REFERENCES volumes(name),
        PRIMARY KEY (container_id, volume)
    );
    "#,
    // v3: a container's health (kiln-runtime's JSON HealthState; '' without a healthcheck).
    r#"
    ALTER TABLE containers ADD COLUMN health TEXT NOT NULL DEFAULT '';
    "#,
    // v4: blobs a cache record's result refers to beyond its own blob (the layers a build
    // state document lists), kept alive by GC for as long as the record is.
    r#"
    CREATE TABLE cache_record_blobs (
        key         TEXT NOT NULL REFERENCES cache_records(key) ON DELETE CASCADE,
        blob_digest TEXT NOT NULL,
        PRIMARY KEY (key, blob_digest)
    );
    "#,
];

pub struct Db {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl Db {
    pub fn open(path: &Path) -> Result<Self, DbError> {
        let open_err = |source| DbError::Open {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(open_err)?;
        // Other kiln processes may hold the write lock briefly; wait rather than fail.
        conn.busy_timeout(Duration::from_secs(30))
            .map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        let db = Db {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        };
        db.migrate()?;
        Ok(db)
    }

    fn migrate(&self) -> Result<(), DbError> {
        let known = MIGRATIONS.len() as i64;
        let mut conn = self.lock();
        // IMMEDIATE: two processes opening a fresh store at once must not both migrate.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if found > known {
            return Err(DbError::TooNew {
                path: self.path.clone(),
                found,
                known,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            let version = i as i64 + 1;
            let err = |source| DbError::Migrate {
                path: self.path.clone(),
                version,
                source,
            };
            tx.execute_batch(sql).map_err(err)?;
            tx.pragma_update(None, "user_version", version)
                .map_err(err)?;
            info!(version, "migrated metadata database");
        }
        tx.commit()?;
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (the transaction
        // rolls back on drop), so a poisoned mutex is safe to reuse.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn schema_version(&self) -> Result<i64, DbError> {
        Ok(self
            .lock()
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// Run `f` in one write transaction (taken up front so concurrent writers queue on the busy
    /// timeout instead of failing to upgrade a read lock); commit if it returns Ok.
    pub fn write<T, E: From<DbError>>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(DbError::from)?;
        let out = f(&tx)?;
        tx.commit().map_err(DbError::from)?;
        Ok(out)
    }

    /// Run `f` in a read transaction: a consistent snapshot of the database.
    pub fn read<T, E: From<DbError>>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(DbError::from)?;
        f(&tx)
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("meta.db");
        let db = Db::open(&p).unwrap();
        assert_eq!(db.schema_version().unwrap(), MIGRATIONS.len() as i64);
        drop(db);
        let db = Db::open(&p).unwrap();
        assert_eq!(db.schema_version().unwrap(), MIGRATIONS.len() as i64);
        let mode: String = db
            .lock()
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn refuses_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("meta.db");
        drop(Db::open(&p).unwrap());
        Connection::open(&p)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        assert!(matches!(
            Db::open(&p),
            Err(DbError::TooNew { found: 99, .. })
        ));
    }

    #[test]
    fn failed_write_rolls_back() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("meta.db")).unwrap();
        let r: Result<(), DbError> = db.write(|tx| {
            tx.execute("INSERT INTO leases (id, created) VALUES ('a', 1)", [])?;
            tx.execute("INSERT INTO leases (id, created) VALUES ('a', 1)", [])?;
            Ok(())
        });
        assert!(r.is_err());
        let n: i64 = db
            .read(|tx| {
                Ok::<_, DbError>(tx.query_row("SELECT count(*) FROM leases", [], |r| r.get(0))?)
            })
            .unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn two_connections_share_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("meta.db");
        let a = Db::open(&p).unwrap();
        let b = Db::open(&p).unwrap();
        std::thread::scope(|s| {
            for (db, tag) in [(&a, "a"), (&b, "b")] {
                s.spawn(move || {
                    for i in 0..50 {
                        db.write(|tx| {
                            tx.execute(
                                "INSERT INTO leases (id, created) VALUES (?1, 0)",
                                [format!("{tag}{i}")],
                            )?;
                            Ok::<_, DbError>(())
                        })
                        .unwrap();
                    }
                });
            }
        });
        let n: i64 = a
            .read(|tx| {
                Ok::<_, DbError>(tx.query_row("SELECT count(*) FROM leases", [], |r| r.get(0))?)
            })
            .unwrap();
        assert_eq!(n, 100);
    }
}
