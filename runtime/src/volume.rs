//! Volumes: named directories under `volumes/<name>/_data` with a row in `volumes`, linked to
//! the containers using them (`container_volumes`), so `volume rm` refuses one in use and
//! `rm -v` removes a container's anonymous volumes.

use crate::config::volume_data;
use crate::timefmt::format_nanos;
use kiln_cache::{DbError, Store};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use std::path::PathBuf;
use std::time::SystemTime;

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("invalid volume name {0:?}: use [a-zA-Z0-9][a-zA-Z0-9_.-]+")]
    InvalidName(String),
    #[error("no such volume: {0} (see `kiln volume ls`)")]
    NotFound(String),
    #[error("volume {name} is in use by container(s) {containers}; remove them first")]
    InUse { name: String, containers: String },
    #[error("volume {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<rusqlite::Error> for VolumeError {
    fn from(e: rusqlite::Error) -> Self {
        VolumeError::Db(DbError::from(e))
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    pub name: String,
    pub driver: String,
    pub mountpoint: PathBuf,
    pub created_at: String,
    pub labels: std::collections::BTreeMap<String, String>,
    #[serde(skip)]
    pub anonymous: bool,
}

fn valid_name(name: &str) -> bool {
    name.len() >= 2
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Creates the volume if it does not exist (Docker's `-v name:/path` does the same) and
/// returns it.
pub fn ensure(
    store: &Store,
    name: &str,
    anonymous: bool,
    labels: &std::collections::BTreeMap<String, String>,
) -> Result<Volume, VolumeError> {
    if !valid_name(name) {
        return Err(VolumeError::InvalidName(name.to_string()));
    }
    let data = volume_data(store.root(), name);
    std::fs::create_dir_all(&data).map_err(|source| VolumeError::Io {
        path: data.clone(),
        source,
    })?;
    let labels_json = serde_json::to_string(labels).unwrap_or_else(|_| "{}".into());
    store.db().write(|tx| {
        tx.execute(
            "INSERT OR IGNORE INTO volumes (name, anonymous, labels, created) VALUES (?1, ?2, ?3, ?4)",
            params![name, anonymous as i64, labels_json, format_nanos(SystemTime::now())],
        )?;
        Ok::<_, VolumeError>(())
    })?;
    get(store, name)
}

pub fn get(store: &Store, name: &str) -> Result<Volume, VolumeError> {
    let row: Option<(i64, String, String)> = store.db().read(|tx| {
        Ok::<_, VolumeError>(
            tx.query_row(
                "SELECT anonymous, labels, created FROM volumes WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?,
        )
    })?;
    let (anonymous, labels, created) = row.ok_or_else(|| VolumeError::NotFound(name.into()))?;
    Ok(Volume {
        name: name.to_string(),
        driver: "local".into(),
        mountpoint: volume_data(store.root(), name),
        created_at: created,
        labels: serde_json::from_str(&labels).unwrap_or_default(),
        anonymous: anonymous != 0,
    })
}

pub fn list(store: &Store) -> Result<Vec<Volume>, VolumeError> {
    let names: Vec<String> = store.db().read(|tx| {
        let mut st = tx.prepare("SELECT name FROM volumes ORDER BY name")?;
        let v = st
            .query_map([], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok::<_, VolumeError>(v)
    })?;
    names.iter().map(|n| get(store, n)).collect()
}

/// Records that container `id` uses volume `name`.
pub fn attach(store: &Store, id: &str, name: &str) -> Result<(), VolumeError> {
    store.db().write(|tx| {
        tx.execute(
            "INSERT OR IGNORE INTO container_volumes (container_id, volume) VALUES (?1, ?2)",
            params![id, name],
        )?;
        Ok(())
    })
}

fn users(store: &Store, name: &str) -> Result<Vec<String>, VolumeError> {
    store.db().read(|tx| {
        let mut st = tx.prepare("SELECT container_id FROM container_volumes WHERE volume = ?1")?;
        let v = st
            .query_map([name], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(v)
    })
}

/// Removes a volume and its data; refuses while a container uses it.
pub fn remove(store: &Store, name: &str) -> Result<(), VolumeError> {
    get(store, name)?;
    let users = users(store, name)?;
    if !users.is_empty() {
        let short: Vec<&str> = users.iter().map(|u| crate::ids::short(u)).collect();
        return Err(VolumeError::InUse {
            name: name.to_string(),
            containers: short.join(", "),
        });
    }
    // Row first: a crash in between leaves an orphan directory, never a row without data.
    store.db().write(|tx| {
        tx.execute("DELETE FROM volumes WHERE name = ?1", [name])?;
        Ok::<_, VolumeError>(())
    })?;
    let dir = store.root().join("volumes").join(name);
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(VolumeError::Io { path: dir, source }),
    }
}

/// Removes the anonymous volumes no container uses (named ones too with `all`, as Docker
/// 23+'s `volume prune --all`: a volume someone named is kept data); returns their names.
pub fn prune(store: &Store, all: bool) -> Result<Vec<String>, VolumeError> {
    let mut removed = Vec::new();
    for v in list(store)? {
        if (all || v.anonymous) && users(store, &v.name)?.is_empty() {
            remove(store, &v.name)?;
            removed.push(v.name);
        }
    }
    Ok(removed)
}
