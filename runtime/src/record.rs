//! Container records in the store's metadata database (table `containers`, schema v2): the
//! state machine's persistent half. The CLI and the container's monitor process both write
//! it; every change is one transaction.

use crate::config::ContainerConfig;
use kiln_cache::{Db, DbError};
use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("no such container: {0} (see `kiln ps -a`)")]
    NotFound(String),
    #[error("container reference {0:?} matches more than one container; give more of the id")]
    Ambiguous(String),
    #[error("the container name {name:?} is already in use by container {id}; remove or rename that container, or choose another name")]
    NameInUse { name: String, id: String },
    #[error("container {id}: stored configuration is not valid JSON: {source}")]
    BadConfig {
        id: String,
        #[source]
        source: serde_json::Error,
    },
}

impl From<rusqlite::Error> for RecordError {
    fn from(e: rusqlite::Error) -> Self {
        RecordError::Db(DbError::from(e))
    }
}

/// Docker's container states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Created,
    Running,
    Restarting,
    Paused,
    Exited,
}

impl State {
    pub fn as_str(&self) -> &'static str {
        match self {
            State::Created => "created",
            State::Running => "running",
            State::Restarting => "restarting",
            State::Paused => "paused",
            State::Exited => "exited",
        }
    }

    fn parse(s: &str) -> State {
        match s {
            "running" => State::Running,
            "restarting" => State::Restarting,
            "paused" => State::Paused,
            "exited" => State::Exited,
            _ => State::Created,
        }
    }

    /// Whether a monitor process should exist for this state.
    pub fn has_monitor(&self) -> bool {
        matches!(self, State::Running | State::Restarting | State::Paused)
    }
}

#[derive(Debug, Clone)]
pub struct ContainerRecord {
    pub id: String,
    pub name: String,
    /// The image as the user named it.
    pub image: String,
    /// The image's manifest digest.
    pub image_digest: String,
    /// The image's top snapshot, held with holder `container:<id>`.
    pub snapshot_id: Option<String>,
    pub config: ContainerConfig,
    pub state: State,
    /// The container's init, in the host's pid namespace (0 when not running).
    pub pid: i32,
    pub monitor_pid: i32,
    /// The monitor's start time (clock ticks since boot), to tell it from a reused pid.
    pub monitor_start: u64,
    pub exit_code: i32,
    pub oom_killed: bool,
    pub error: String,
    pub restart_count: u32,
    pub stop_requested: bool,
    pub created: String,
    pub started_at: String,
    pub finished_at: String,
    /// Health of a container with a healthcheck (None without one or before its start).
    pub health: Option<crate::health::HealthState>,
}

const COLUMNS: &str =
    "id, name, image, image_digest, snapshot_id, config, state, pid, monitor_pid, \
    monitor_start, exit_code, oom_killed, error, restart_count, stop_requested, created, \
    started_at, finished_at, health";

fn from_row(r: &Row<'_>) -> rusqlite::Result<(ContainerRecord, String)> {
    let config_json: String = r.get(5)?;
    let state: String = r.get(6)?;
    let monitor_start: i64 = r.get(9)?;
    let restart_count: i64 = r.get(13)?;
    Ok((
        ContainerRecord {
            id: r.get(0)?,
            name: r.get(1)?,
            image: r.get(2)?,
            image_digest: r.get(3)?,
            snapshot_id: r.get(4)?,
            config: ContainerConfig::default(),
            state: State::parse(&state),
            pid: r.get(7)?,
            monitor_pid: r.get(8)?,
            monitor_start: monitor_start as u64,
            exit_code: r.get(10)?,
            oom_killed: r.get::<_, i64>(11)? != 0,
            error: r.get(12)?,
            restart_count: restart_count as u32,
            stop_requested: r.get::<_, i64>(14)? != 0,
            created: r.get(15)?,
            started_at: r.get(16)?,
            finished_at: r.get(17)?,
            health: serde_json::from_str(&r.get::<_, String>(18)?).ok(),
        },
        config_json,
    ))
}

fn decode((mut rec, json): (ContainerRecord, String)) -> Result<ContainerRecord, RecordError> {
    rec.config = serde_json::from_str(&json).map_err(|source| RecordError::BadConfig {
        id: rec.id.clone(),
        source,
    })?;
    Ok(rec)
}

pub fn insert(db: &Db, rec: &ContainerRecord) -> Result<(), RecordError> {
    let config = serde_json::to_string(&rec.config).map_err(|source| RecordError::BadConfig {
        id: rec.id.clone(),
        source,
    })?;
    db.write(|tx| {
        let clash: Option<String> = tx
            .query_row(
                "SELECT id FROM containers WHERE name = ?1",
                [&rec.name],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = clash {
            return Err(RecordError::NameInUse {
                name: rec.name.clone(),
                id,
            });
        }
        tx.execute(
            &format!("INSERT INTO containers ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, '')"),
            params![
                rec.id, rec.name, rec.image, rec.image_digest, rec.snapshot_id, config,
                rec.state.as_str(), rec.pid, rec.monitor_pid, rec.monitor_start as i64,
                rec.exit_code, rec.oom_killed as i64, rec.error, rec.restart_count as i64,
                rec.stop_requested as i64, rec.created, rec.started_at, rec.finished_at
            ],
        )?;
        Ok(())
    })
}

pub fn get(db: &Db, id: &str) -> Result<ContainerRecord, RecordError> {
    let row = db.read(|tx| {
        tx.query_row(
            &format!("SELECT {COLUMNS} FROM containers WHERE id = ?1"),
            [id],
            from_row,
        )
        .optional()
        .map_err(RecordError::from)
    })?;
    decode(row.ok_or_else(|| RecordError::NotFound(id.to_string()))?)
}

/// Finds a container by full id, name, or unique id prefix (Docker's order).
pub fn find(db: &Db, reference: &str) -> Result<ContainerRecord, RecordError> {
    let reference = reference.strip_prefix('/').unwrap_or(reference);
    let ids: Vec<String> = db.read(|tx| {
        let exact: Option<String> = tx
            .query_row(
                "SELECT id FROM containers WHERE id = ?1 OR name = ?1 ORDER BY id = ?1 DESC LIMIT 1",
                [reference],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = exact {
            return Ok::<_, RecordError>(vec![id]);
        }
        if reference.is_empty() || !reference.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(Vec::new());
        }
        let mut st = tx.prepare("SELECT id FROM containers WHERE substr(id, 1, ?2) = ?1")?;
        let ids = st
            .query_map(params![reference, reference.len() as i64], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(ids)
    })?;
    match ids.as_slice() {
        [id] => get(db, id),
        [] => Err(RecordError::NotFound(reference.to_string())),
        _ => Err(RecordError::Ambiguous(reference.to_string())),
    }
}

/// All containers, newest first.
pub fn list(db: &Db) -> Result<Vec<ContainerRecord>, RecordError> {
    let rows = db.read(|tx| {
        let mut st = tx.prepare(&format!(
            "SELECT {COLUMNS} FROM containers ORDER BY created DESC, rowid DESC"
        ))?;
        let rows = st.query_map([], from_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok::<_, RecordError>(rows)
    })?;
    rows.into_iter().map(decode).collect()
}

fn exec(db: &Db, sql: &str, p: impl rusqlite::Params, id: &str) -> Result<(), RecordError> {
    let n = db.write(|tx| Ok::<_, RecordError>(tx.execute(sql, p)?))?;
    if n == 0 {
        return Err(RecordError::NotFound(id.to_string()));
    }
    Ok(())
}

/// The monitor took charge: it runs (or restarts) the container.
pub fn set_monitor(db: &Db, id: &str, monitor_pid: i32, start: u64) -> Result<(), RecordError> {
    exec(
        db,
        "UPDATE containers SET monitor_pid = ?2, monitor_start = ?3, stop_requested = 0 WHERE id = ?1",
        params![id, monitor_pid, start as i64],
        id,
    )
}

pub fn set_running(db: &Db, id: &str, pid: i32, started_at: &str) -> Result<(), RecordError> {
    exec(
        db,
        "UPDATE containers SET state = 'running', pid = ?2, started_at = ?3, error = '', oom_killed = 0, health = '' WHERE id = ?1",
        params![id, pid, started_at],
        id,
    )
}

/// The container's process ended (or never started: `error` says why).
pub fn set_exited(
    db: &Db,
    id: &str,
    exit_code: i32,
    oom_killed: bool,
    error: &str,
    finished_at: &str,
) -> Result<(), RecordError> {
    exec(
        db,
        "UPDATE containers SET state = 'exited', pid = 0, exit_code = ?2, oom_killed = ?3, error = ?4, finished_at = ?5 WHERE id = ?1",
        params![id, exit_code, oom_killed as i64, error, finished_at],
        id,
    )
}

/// The monitor is gone: no process may be recorded any more.
pub fn clear_monitor(db: &Db, id: &str) -> Result<(), RecordError> {
    exec(
        db,
        "UPDATE containers SET monitor_pid = 0, monitor_start = 0, pid = 0 WHERE id = ?1",
        params![id],
        id,
    )
}

pub fn set_state(db: &Db, id: &str, state: State) -> Result<(), RecordError> {
    exec(
        db,
        "UPDATE containers SET state = ?2 WHERE id = ?1",
        params![id, state.as_str()],
        id,
    )
}

pub fn set_restarting(db: &Db, id: &str, restart_count: u32) -> Result<(), RecordError> {
    exec(
        db,
        "UPDATE containers SET state = 'restarting', restart_count = ?2 WHERE id = ?1",
        params![id, restart_count as i64],
        id,
    )
}

pub fn set_stop_requested(db: &Db, id: &str, requested: bool) -> Result<(), RecordError> {
    exec(
        db,
        "UPDATE containers SET stop_requested = ?2 WHERE id = ?1",
        params![id, requested as i64],
        id,
    )
}

/// Replaces the stored configuration (`update`).
pub fn set_config(db: &Db, id: &str, config: &ContainerConfig) -> Result<(), RecordError> {
    let json = serde_json::to_string(config).map_err(|source| RecordError::BadConfig {
        id: id.to_string(),
        source,
    })?;
    exec(
        db,
        "UPDATE containers SET config = ?2 WHERE id = ?1",
        params![id, json],
        id,
    )
}

pub fn set_health(
    db: &Db,
    id: &str,
    health: &crate::health::HealthState,
) -> Result<(), RecordError> {
    let json = serde_json::to_string(health).unwrap_or_default();
    exec(
        db,
        "UPDATE containers SET health = ?2 WHERE id = ?1",
        params![id, json],
        id,
    )
}

pub fn rename(db: &Db, id: &str, new_name: &str) -> Result<(), RecordError> {
    db.write(|tx| {
        let clash: Option<String> = tx
            .query_row(
                "SELECT id FROM containers WHERE name = ?1 AND id != ?2",
                params![new_name, id],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(other) = clash {
            return Err(RecordError::NameInUse {
                name: new_name.to_string(),
                id: other,
            });
        }
        if tx.execute(
            "UPDATE containers SET name = ?2 WHERE id = ?1",
            params![id, new_name],
        )? == 0
        {
            return Err(RecordError::NotFound(id.to_string()));
        }
        Ok(())
    })
}

pub fn delete(db: &Db, id: &str) -> Result<(), RecordError> {
    exec(db, "DELETE FROM containers WHERE id = ?1", params![id], id)
}
