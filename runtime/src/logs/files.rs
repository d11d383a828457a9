//! A container log's files: the writer that appends entries and rotates
//! (`container-json.log` → `.1` → `.2` …, Docker's naming, `.1` the newest rotated), and the
//! chain of existing files, oldest first, that readers walk.

use super::driver::Rotation;
use super::{LogEntry, LogError};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// `path.n`: the n-th newest rotated file.
pub(super) fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> LogError + '_ {
    move |source| LogError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The log's files that exist, oldest first, each with its inode (how a follower knows a
/// file it was reading after it has been renamed).
pub(super) fn open_chain(path: &Path) -> Result<Vec<(u64, File)>, LogError> {
    let mut indices: Vec<u32> = Vec::new();
    if let (Some(dir), Some(name)) = (path.parent(), path.file_name()) {
        let prefix = format!("{}.", name.to_string_lossy());
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(dir)(e)),
        };
        for e in entries.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if let Some(i) = n.strip_prefix(&prefix).and_then(|s| s.parse().ok()) {
                indices.push(i);
            }
        }
    }
    indices.sort_unstable();
    // Newest first: a rotation while we open moves files to higher numbers, so a file is
    // then seen twice (deduplicated by inode) rather than missed.
    let names =
        std::iter::once(path.to_path_buf()).chain(indices.iter().map(|i| rotated(path, *i)));
    let mut chain: Vec<(u64, File)> = Vec::new();
    for p in names {
        let f = match File::open(&p) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(&p)(e)),
        };
        let ino = f.metadata().map_err(io_err(&p))?.ino();
        if !chain.iter().any(|(i, _)| *i == ino) {
            chain.push((ino, f));
        }
    }
    chain.reverse();
    Ok(chain)
}

/// Appends entries to a container's log, rotating per `--log-opt max-size/max-file`.
pub struct LogWriter {
    path: PathBuf,
    file: File,
    size: u64,
    rotation: Rotation,
}

impl LogWriter {
    pub fn open(path: &Path, rotation: Rotation) -> Result<Self, LogError> {
        let file = append(path)?;
        let size = file.metadata().map_err(io_err(path))?.len();
        Ok(LogWriter {
            path: path.to_path_buf(),
            file,
            size,
            rotation,
        })
    }

    pub fn write(&mut self, entry: &LogEntry) -> Result<(), LogError> {
        let mut line = serde_json::to_vec(entry).unwrap_or_default();
        line.push(b'\n');
        let len = line.len() as u64;
        if let Some(max) = self.rotation.max_size {
            // An entry larger than max-size still goes whole into a file of its own.
            if self.size > 0 && self.size + len > max {
                self.rotate()?;
            }
        }
        // One write per entry: readers following the file never see half an object
        // unless the disk fills, and readers skip such a torn tail.
        self.file.write_all(&line).map_err(io_err(&self.path))?;
        self.size += len;
        Ok(())
    }

    /// Starts a new current file, keeping `max_file - 1` rotated ones. The new file is
    /// created before any old one is deleted, so it cannot reuse a deleted file's inode
    /// (which a follower may still be positioned in).
    fn rotate(&mut self) -> Result<(), LogError> {
        // Not a number: readers never take it for a rotated file.
        let mut fresh = self.path.as_os_str().to_os_string();
        fresh.push(".new");
        let fresh = PathBuf::from(fresh);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&fresh)
            .map_err(io_err(&fresh))?;
        let keep = self.rotation.max_file.saturating_sub(1);
        if keep > 0 {
            remove(&rotated(&self.path, keep))?;
            for i in (1..keep).rev() {
                rename(&rotated(&self.path, i), &rotated(&self.path, i + 1))?;
            }
            rename(&self.path, &rotated(&self.path, 1))?;
        }
        // With max-file=1 this replaces (and so deletes) the current file.
        rename(&fresh, &self.path)?;
        tracing::debug!(path = %self.path.display(), "rotated the container log");
        self.file = file;
        self.size = 0;
        Ok(())
    }
}

fn append(path: &Path) -> Result<File, LogError> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io_err(path))
}

fn remove(p: &Path) -> Result<(), LogError> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(p)(e)),
        _ => Ok(()),
    }
}

fn rename(from: &Path, to: &Path) -> Result<(), LogError> {
    match std::fs::rename(from, to) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(from)(e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{follow, read_entries, LogFilter};
    use super::*;
    use kiln_executor::{OutputLine, Stream};
    use std::time::{Duration, UNIX_EPOCH};

    fn entry(i: usize) -> LogEntry {
        LogEntry::from_output(&OutputLine {
            stream: Stream::Stdout,
            time: UNIX_EPOCH + Duration::from_secs(i as u64),
            line: format!("line {i:04}").into_bytes(),
            partial: false,
        })
    }

    /// Each entry serialises to the same length; max-size fits `per_file` of them.
    fn rotation(per_file: u64, max_file: u32) -> Rotation {
        let len = serde_json::to_vec(&entry(0)).unwrap().len() as u64 + 1;
        Rotation {
            max_size: Some(len * per_file),
            max_file,
        }
    }

    fn logs(p: &Path) -> Vec<String> {
        let (all, _) = read_entries(p, &LogFilter::default()).unwrap();
        all.into_iter().map(|e| e.log).collect()
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn rotates_keeping_max_file_files_read_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("container-json.log");
        let mut w = LogWriter::open(&p, rotation(4, 3)).unwrap();
        for i in 0..30 {
            w.write(&entry(i)).unwrap();
        }
        assert_eq!(
            files_in(dir.path()),
            [
                "container-json.log",
                "container-json.log.1",
                "container-json.log.2"
            ]
        );
        // 30 entries, 4 per file: the current file has 2, the two rotated ones 4 each.
        let want: Vec<String> = (20..30).map(|i| format!("line {i:04}\n")).collect();
        assert_eq!(logs(&p), want);
        let tail = LogFilter {
            tail: Some(3),
            ..Default::default()
        };
        let (last, _) = read_entries(&p, &tail).unwrap();
        assert_eq!(last[0].log, "line 0027\n");
    }

    #[test]
    fn max_file_one_keeps_only_the_current_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("container-json.log");
        let mut w = LogWriter::open(&p, rotation(4, 1)).unwrap();
        for i in 0..10 {
            w.write(&entry(i)).unwrap();
        }
        assert_eq!(files_in(dir.path()), ["container-json.log"]);
        assert_eq!(logs(&p), ["line 0008\n", "line 0009\n"]);
        // Reopening (a restart) continues the current file's size count.
        let mut w = LogWriter::open(&p, rotation(4, 1)).unwrap();
        for i in 10..12 {
            w.write(&entry(i)).unwrap();
        }
        assert_eq!(logs(&p).len(), 4);
        w.write(&entry(12)).unwrap();
        assert_eq!(logs(&p), ["line 0012\n"]);
    }

    #[test]
    fn follow_reads_across_rotations_without_loss_or_repeats() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("container-json.log");
        let mut w = LogWriter::open(&p, rotation(3, 4)).unwrap();
        for i in 0..2 {
            w.write(&entry(i)).unwrap();
        }
        let (first, cursor) = read_entries(&p, &LogFilter::default()).unwrap();
        let mut seen: Vec<String> = first.into_iter().map(|e| e.log).collect();
        let mut next = 2;
        follow(
            &p,
            cursor,
            &LogFilter::default(),
            || {
                // Between two polls: up to two rotations (7 entries, 3 per file).
                for _ in 0..7 {
                    if next < 30 {
                        w.write(&entry(next)).unwrap();
                        next += 1;
                    }
                }
                next < 30
            },
            |e| {
                seen.push(e.log.clone());
                true
            },
        )
        .unwrap();
        let want: Vec<String> = (0..30).map(|i| format!("line {i:04}\n")).collect();
        assert_eq!(seen, want);
    }
}
