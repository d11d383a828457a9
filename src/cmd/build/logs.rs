//! Full logs of every step on disk, nothing clipped: one file per step that ran
//! (`NN-<instruction>.log`, numbered in the order steps started), in `--logs DIR` or in
//! `<store>/build-logs/<build>/` (the newest few builds are kept there).

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use kiln_frontend::graph::Digest;
use kiln_solver::Event;

/// Build log directories kept under the store; older ones are removed.
const KEEP_BUILDS: usize = 10;

/// Characters of the instruction kept in a log file's name.
const NAME_CHARS: usize = 60;

pub struct StepLogs {
    dir: PathBuf,
    files: HashMap<Digest, File>,
    failed: bool,
}

impl StepLogs {
    /// Logs into `dir`, or a new directory under the store's `build-logs`.
    pub fn new(store_root: &Path, dir: Option<&Path>) -> anyhow::Result<StepLogs> {
        use anyhow::Context;
        let dir = match dir {
            Some(d) => d.to_path_buf(),
            None => {
                let parent = store_root.join("build-logs");
                prune_old(&parent);
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0);
                parent.join(format!("{nanos}-{}", std::process::id()))
            }
        };
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("creating the build log directory {}", dir.display()))?;
        Ok(StepLogs {
            dir,
            files: HashMap::new(),
            failed: false,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn event(&mut self, ev: &Event) {
        match ev {
            Event::Started { vertex, name, .. } => {
                let n = self.files.len() + 1;
                let path = self.dir.join(file_name(n, name));
                match File::create(&path) {
                    Ok(f) => {
                        self.files.insert(vertex.clone(), f);
                    }
                    Err(e) => self.fail(&path, &e),
                }
            }
            Event::Log { vertex, data, .. } => {
                if let Some(f) = self.files.get_mut(vertex) {
                    if let Err(e) = f.write_all(data.as_bytes()) {
                        let path = self.dir.clone();
                        self.fail(&path, &e);
                    }
                }
            }
            Event::Explained { vertex, reason } => {
                if let Some(f) = self.files.get_mut(vertex) {
                    let _ = writeln!(f, "# cache miss: {reason}");
                }
            }
            Event::Completed {
                vertex,
                error: Some(e),
                ..
            } => {
                if let Some(f) = self.files.get_mut(vertex) {
                    let _ = writeln!(f, "ERROR: {e}");
                }
            }
            _ => {}
        }
    }

    fn fail(&mut self, path: &Path, e: &std::io::Error) {
        // One warning; a full disk would otherwise warn for every line.
        if !self.failed {
            tracing::warn!("writing the step log {}: {e}", path.display());
            self.failed = true;
        }
    }
}

/// `03-RUN_make_install.log`.
fn file_name(n: usize, name: &str) -> String {
    let instruction = match name.strip_prefix('[').and_then(|r| r.split_once("] ")) {
        Some((_, rest)) => rest,
        None => name,
    };
    let clean: String = instruction
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(NAME_CHARS)
        .collect();
    format!("{n:02}-{clean}.log")
}

/// Keep the newest `KEEP_BUILDS - 1` directories (this build makes the last one).
fn prune_old(parent: &Path) {
    let Ok(rd) = std::fs::read_dir(parent) else {
        return;
    };
    let mut dirs: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    // Names start with a nanosecond timestamp: lexical order of equal-length names is age.
    dirs.sort_by_key(|p| {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
        name.map(|n| (n.len(), n))
    });
    let excess = dirs.len().saturating_sub(KEEP_BUILDS - 1);
    for d in dirs.into_iter().take(excess) {
        if let Err(e) = std::fs::remove_dir_all(&d) {
            tracing::warn!("removing old build logs {}: {e}", d.display());
        }
    }
}

/// What watches a build's events besides the printer: the step logs on disk and the
/// explanation of each step that runs.
pub struct Watch {
    pub logs: StepLogs,
    pub explainer: std::sync::Arc<super::explain::Explainer>,
}

impl Watch {
    /// Feed `ev` to the logs and `print`, followed by the step's cache-miss reason.
    pub fn event(&mut self, ev: &Event, print: &mut dyn crate::progress::Printer) {
        self.logs.event(ev);
        print.event(ev);
        if let Some(x) = self.explainer.follow(ev) {
            self.logs.event(&x);
            print.event(&x);
        }
    }
}

/// "The same build" for explanations: context, Dockerfile and target.
pub fn identity(args: &super::BuildArgs) -> String {
    let abs = |p: &str| {
        std::fs::canonicalize(p)
            .map(|c| c.display().to_string())
            .unwrap_or_else(|_| p.to_string())
    };
    format!(
        "{}\0{}\0{}",
        abs(&args.context),
        args.file.as_deref().map(abs).unwrap_or_default(),
        args.target.as_deref().unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_every_line_of_each_step_to_its_own_file() {
        let d = tempfile::tempdir().unwrap();
        let mut logs = StepLogs::new(d.path(), Some(&d.path().join("logs"))).unwrap();
        let v = Digest::of_bytes(b"v");
        logs.event(&Event::Started {
            vertex: v.clone(),
            name: "[stage-0 2/3] RUN make all".into(),
            time: 0,
        });
        let big = "x".repeat(3 * 1024 * 1024);
        for chunk in [big.as_str(), "\nend\n"] {
            logs.event(&Event::Log {
                vertex: v.clone(),
                stream: kiln_solver::Stream::Stdout,
                data: chunk.into(),
                time: 0,
            });
        }
        drop(logs);
        let text = std::fs::read_to_string(d.path().join("logs/01-RUN_make_all.log")).unwrap();
        assert_eq!(text.len(), big.len() + 5);
        assert!(text.ends_with("\nend\n"));
    }

    #[test]
    fn keeps_only_the_newest_build_dirs() {
        let d = tempfile::tempdir().unwrap();
        let parent = d.path().join("build-logs");
        for i in 0..12 {
            std::fs::create_dir_all(parent.join(format!("{}-1", 1000 + i))).unwrap();
        }
        prune_old(&parent);
        let mut left: Vec<String> = std::fs::read_dir(&parent)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left.len(), KEEP_BUILDS - 1);
        assert_eq!(left[0], "1003-1");
    }
}
