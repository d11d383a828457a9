//! Container events in Docker's shape (`create`, `start`, `die`, `oom`, `stop`, `kill`,
//! `destroy`, `pause`, `unpause`, `rename`, `restart`, `health_status: …`), appended as JSON
//! lines to `events.jsonl` in the store by whichever kiln process caused them (CLI or
//! monitor), read and followed by `kiln events`.

use crate::record::ContainerRecord;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    pub scope: String,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

pub fn path(store_root: &Path) -> PathBuf {
    store_root.join("events.jsonl")
}

/// Records a container event. Failing to record one is logged, never fatal: events are a
/// view of what happened, not part of it.
pub fn emit(store_root: &Path, action: &str, rec: &ContainerRecord, extra: &[(&str, String)]) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut attributes: BTreeMap<String, String> = rec.config.labels.clone();
    attributes.insert("name".into(), rec.name.clone());
    attributes.insert("image".into(), rec.image.clone());
    for (k, v) in extra {
        attributes.insert((*k).to_string(), v.clone());
    }
    let ev = Event {
        kind: "container".into(),
        action: action.to_string(),
        actor: Actor {
            id: rec.id.clone(),
            attributes,
        },
        scope: "local".into(),
        time: now.as_secs() as i64,
        time_nano: now.as_nanos() as i64,
    };
    let p = path(store_root);
    let mut line = serde_json::to_vec(&ev).unwrap_or_default();
    line.push(b'\n');
    // O_APPEND with one write per event: writers in several processes never interleave.
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&p)
        .and_then(|mut f| f.write_all(&line));
    if let Err(e) = written {
        tracing::warn!("recording the {action} event in {}: {e}", p.display());
    }
}

/// Events from byte `offset` on (complete lines only) and the offset after them.
pub fn read_from(store_root: &Path, offset: u64) -> (Vec<Event>, u64) {
    use std::io::{BufRead, Seek};
    let Ok(mut f) = std::fs::File::open(path(store_root)) else {
        return (Vec::new(), offset);
    };
    if f.seek(std::io::SeekFrom::Start(offset)).is_err() {
        return (Vec::new(), offset);
    }
    let mut r = std::io::BufReader::new(f);
    let (mut out, mut pos, mut line) = (Vec::new(), offset, String::new());
    loop {
        line.clear();
        match r.read_line(&mut line) {
            Ok(n) if n > 0 && line.ends_with('\n') => {
                pos += n as u64;
                if let Ok(ev) = serde_json::from_str(line.trim_end()) {
                    out.push(ev);
                }
            }
            _ => break,
        }
    }
    (out, pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emits_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let rec = ContainerRecord {
            id: "abc".into(),
            name: "n".into(),
            image: "busybox".into(),
            image_digest: String::new(),
            snapshot_id: None,
            config: Default::default(),
            state: crate::record::State::Created,
            pid: 0,
            monitor_pid: 0,
            monitor_start: 0,
            exit_code: 0,
            oom_killed: false,
            error: String::new(),
            restart_count: 0,
            stop_requested: false,
            created: String::new(),
            started_at: String::new(),
            finished_at: String::new(),
            health: None,
        };
        emit(dir.path(), "create", &rec, &[]);
        emit(dir.path(), "die", &rec, &[("exitCode", "3".into())]);
        let (evs, end) = read_from(dir.path(), 0);
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[1].action, "die");
        assert_eq!(evs[1].actor.attributes["exitCode"], "3");
        assert_eq!(evs[0].actor.attributes["name"], "n");
        assert!(read_from(dir.path(), end).0.is_empty());
    }
}
