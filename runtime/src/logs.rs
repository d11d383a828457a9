//! Container logs in Docker's json-file format: one `{"log","stream","time"}` object per
//! line, appended by the monitor (rotated per `--log-opt`, see `files.rs`), read (with
//! `--tail`, `--since`, `--until`) across the rotated files in order and followed by
//! `kiln logs`.

mod driver;
mod files;

pub use driver::{LogConfig, LogConfigError, LogDriver, Rotation};
pub use files::LogWriter;

use crate::timefmt::{format_nanos, parse_rfc3339};
use kiln_executor::{OutputLine, Stream};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("container log {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One line as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub log: String,
    pub stream: String,
    pub time: String,
}

impl LogEntry {
    pub fn from_output(l: &OutputLine) -> Self {
        let mut log = String::from_utf8_lossy(&l.line).into_owned();
        if !l.partial {
            log.push('\n');
        }
        LogEntry {
            log,
            stream: match l.stream {
                Stream::Stdout => "stdout",
                Stream::Stderr => "stderr",
            }
            .to_string(),
            time: format_nanos(l.time),
        }
    }

    pub fn is_stderr(&self) -> bool {
        self.stream == "stderr"
    }

    pub fn time(&self) -> Option<SystemTime> {
        parse_rfc3339(&self.time)
    }
}

/// Which entries to show.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub since: Option<SystemTime>,
    pub until: Option<SystemTime>,
    /// Only the last N entries (of those passing since/until).
    pub tail: Option<usize>,
}

impl LogFilter {
    fn admits(&self, e: &LogEntry) -> bool {
        let t = e.time();
        match (t, self.since, self.until) {
            (Some(t), Some(s), _) if t < s => false,
            (Some(t), _, Some(u)) if t > u => false,
            _ => true,
        }
    }
}

/// Reads complete entries from `reader`, returning them and the offset after the last
/// complete line (a torn last line is left for the next read).
fn read_from(reader: &mut BufReader<File>, start: u64) -> std::io::Result<(Vec<LogEntry>, u64)> {
    let mut out = Vec::new();
    let mut pos = start;
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line)?;
        if n == 0 || !line.ends_with('\n') {
            break;
        }
        pos += n as u64;
        match serde_json::from_str::<LogEntry>(line.trim_end()) {
            Ok(e) => out.push(e),
            Err(e) => tracing::warn!("skipping a malformed log line at byte {pos}: {e}"),
        }
    }
    Ok((out, pos))
}

/// Where a reader stopped: the file (by inode, which survives rotation's renames) and the
/// offset after its last complete line. `Default`: nothing read yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogCursor {
    ino: u64,
    offset: u64,
}

/// The entries of the log at `path` (its rotated files first, oldest first) that pass
/// `filter`, and where they end.
pub fn read_entries(
    path: &Path,
    filter: &LogFilter,
) -> Result<(Vec<LogEntry>, LogCursor), LogError> {
    let mut entries = Vec::new();
    let mut cursor = LogCursor::default();
    for (ino, file) in files::open_chain(path)? {
        let (mut got, end) = read_from(&mut BufReader::new(file), 0).map_err(io_at(path))?;
        entries.append(&mut got);
        cursor = LogCursor { ino, offset: end };
    }
    entries.retain(|e| filter.admits(e));
    if let Some(n) = filter.tail {
        let skip = entries.len().saturating_sub(n);
        entries.drain(..skip);
    }
    Ok((entries, cursor))
}

fn io_at(path: &Path) -> impl Fn(std::io::Error) -> LogError + '_ {
    move |source| LogError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The complete entries written after `cursor`, and the new cursor: the rest of the file
/// the cursor is in, then every newer file whole. When that file has been rotated away
/// entirely (the reader fell more than max-file files behind), reading resumes at the
/// start of the current file.
fn read_after(path: &Path, cursor: LogCursor) -> Result<(Vec<LogEntry>, LogCursor), LogError> {
    let io = io_at(path);
    // Fast path: the current file is still the one the cursor is in.
    match File::open(path) {
        Ok(mut f) if f.metadata().map_err(&io)?.ino() == cursor.ino => {
            f.seek(SeekFrom::Start(cursor.offset)).map_err(&io)?;
            let (got, end) = read_from(&mut BufReader::new(f), cursor.offset).map_err(&io)?;
            let next = LogCursor {
                offset: end,
                ..cursor
            };
            return Ok((got, next));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
        Ok(_) => {}
    }
    let chain = files::open_chain(path)?;
    let (skip, offset) = match chain.iter().position(|(ino, _)| *ino == cursor.ino) {
        Some(i) => (i, cursor.offset),
        None if cursor == LogCursor::default() => (0, 0),
        None => {
            tracing::warn!(
                "{}: the log rotated past the reader; lines in between are skipped",
                path.display()
            );
            (chain.len().saturating_sub(1), 0)
        }
    };
    let mut out = Vec::new();
    let mut next = cursor;
    for (k, (ino, mut f)) in chain.into_iter().enumerate().skip(skip) {
        let start = if k == skip { offset } else { 0 };
        f.seek(SeekFrom::Start(start)).map_err(&io)?;
        let (mut got, end) = read_from(&mut BufReader::new(f), start).map_err(&io)?;
        out.append(&mut got);
        next = LogCursor { ino, offset: end };
    }
    Ok((out, next))
}

/// Calls `emit` for entries appended after `cursor` until `still_running` says the writer
/// is gone (then drains what is left). `emit` returning false stops early (reader went away).
pub fn follow(
    path: &Path,
    mut cursor: LogCursor,
    filter: &LogFilter,
    mut still_running: impl FnMut() -> bool,
    mut emit: impl FnMut(&LogEntry) -> bool,
) -> Result<(), LogError> {
    loop {
        // Sample liveness before reading so the last lines written before exit are drained.
        let running = still_running();
        let (entries, next) = read_after(path, cursor)?;
        cursor = next;
        for e in entries.iter().filter(|e| filter.admits(e)) {
            if !emit(e) {
                return Ok(());
            }
        }
        if !running {
            return Ok(());
        }
        if filter.until.is_some_and(|u| SystemTime::now() > u) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::UNIX_EPOCH;

    fn line(s: &str, secs: u64, stream: Stream) -> OutputLine {
        OutputLine {
            stream,
            time: UNIX_EPOCH + Duration::from_secs(secs),
            line: s.as_bytes().to_vec(),
            partial: false,
        }
    }

    #[test]
    fn writes_docker_json_and_filters() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.json");
        let mut w = LogWriter::open(&p, Rotation::default()).unwrap();
        for (i, s) in ["a", "b \"q\"", "c"].iter().enumerate() {
            let stream = if i == 1 {
                Stream::Stderr
            } else {
                Stream::Stdout
            };
            w.write(&LogEntry::from_output(&line(s, 100 + i as u64, stream)))
                .unwrap();
        }
        let raw = std::fs::read_to_string(&p).unwrap();
        let first = raw.lines().next().unwrap();
        assert_eq!(
            first,
            r#"{"log":"a\n","stream":"stdout","time":"1970-01-01T00:01:40.000000000Z"}"#
        );
        let (all, end) = read_entries(&p, &LogFilter::default()).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(end.offset, raw.len() as u64);
        assert!(all[1].is_stderr());
        assert_eq!(all[1].log, "b \"q\"\n");
        let tail = LogFilter {
            tail: Some(1),
            ..Default::default()
        };
        assert_eq!(read_entries(&p, &tail).unwrap().0[0].log, "c\n");
        let window = LogFilter {
            since: Some(UNIX_EPOCH + Duration::from_secs(101)),
            until: Some(UNIX_EPOCH + Duration::from_secs(101)),
            tail: None,
        };
        let got = read_entries(&p, &window).unwrap().0;
        assert_eq!(got.len(), 1);
        assert!(got[0].log.starts_with('b'));
    }

    #[test]
    fn torn_tail_is_left_for_later_and_follow_drains() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.json");
        let mut w = LogWriter::open(&p, Rotation::default()).unwrap();
        w.write(&LogEntry::from_output(&line("x", 1, Stream::Stdout)))
            .unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"{\"log\":\"y")
            .unwrap();
        let (got, end) = read_entries(&p, &LogFilter::default()).unwrap();
        assert_eq!(got.len(), 1);
        let mut seen = Vec::new();
        let mut polls = 0;
        follow(
            &p,
            end,
            &LogFilter::default(),
            || {
                polls += 1;
                if polls == 2 {
                    std::fs::OpenOptions::new()
                        .append(true)
                        .open(&p)
                        .unwrap()
                        .write_all(b"\n")
                        .unwrap();
                }
                polls < 3
            },
            |e| {
                seen.push(e.log.clone());
                true
            },
        )
        .unwrap();
        // The torn line, once completed, is malformed JSON and skipped; nothing is lost
        // that was complete, and follow ends when the writer is gone.
        assert!(seen.is_empty());
        w.write(&LogEntry::from_output(&line("z", 2, Stream::Stdout)))
            .unwrap();
        let (all, _) = read_entries(&p, &LogFilter::default()).unwrap();
        assert_eq!(all.last().unwrap().log, "z\n");
    }
}
