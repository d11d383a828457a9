//! The upload of a daemon build: exactly the files each local source selects (the main
//! context, and local `--build-context` directories), as one tar. With local named
//! contexts every source sits in its own directory ([`BuildRequest::upload_dir`]);
//! otherwise the main context's files are at the root, as older daemons expect.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use bytes::Bytes;
use kiln_daemon::api::{BuildRequest, LocalSource};
use kiln_solver::context::{select, Entry, EntryKind, Matcher};

/// What one local source sends: its client directory, the prefix in the tar, the entries.
pub struct SourceFiles {
    pub dir: PathBuf,
    pub prefix: Option<String>,
    pub entries: Vec<Entry>,
}

/// The entries each source selects, each path once per source. `dirs` maps the local
/// source names (`context`, `context:NAME`) to client directories.
pub fn selection(
    dirs: &BTreeMap<String, PathBuf>,
    sources: &[LocalSource],
    by_source: bool,
) -> anyhow::Result<Vec<SourceFiles>> {
    let mut per_source: BTreeMap<&str, BTreeMap<String, Entry>> = BTreeMap::new();
    for s in sources {
        let Some(dir) = dirs.get(&s.name) else {
            bail!(
                "the build reads the local source {:?}, but no directory was given for it",
                s.name
            );
        };
        if !by_source && s.name != "context" {
            bail!(
                "internal error: the local source {:?} would be sent as the main context",
                s.name
            );
        }
        let matcher = Matcher::from_patterns(&s.exclude)?;
        let include = if s.include.is_empty() {
            vec![".".to_string()]
        } else {
            s.include.clone()
        };
        let all = per_source.entry(s.name.as_str()).or_default();
        for e in select(dir, &include, &matcher)
            .with_context(|| format!("selecting the files of {} in {}", s.name, dir.display()))?
        {
            all.insert(e.path.clone(), e);
        }
    }
    Ok(per_source
        .into_iter()
        .filter_map(|(name, entries)| {
            Some(SourceFiles {
                dir: dirs.get(name)?.clone(),
                prefix: by_source.then(|| BuildRequest::upload_dir(name)),
                entries: entries.into_values().collect(),
            })
        })
        .collect())
}

/// Writes a tar stream into the request body channel in large chunks.
pub struct ChannelWriter {
    pub tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    pub buf: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 256 * 1024 {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::other("the daemon stopped reading the context"))
    }
}

/// Tar exactly the selected entries: modes, owners and link targets as they are (they
/// are part of the checksums the cache keys use).
pub fn write_tar(sources: &[SourceFiles], out: ChannelWriter) -> anyhow::Result<()> {
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    for s in sources {
        for e in &s.entries {
            if e.path.is_empty() || e.path == "." || e.kind == EntryKind::Other {
                continue;
            }
            let path = s.dir.join(&e.path);
            let name = match &s.prefix {
                Some(p) => Path::new(p).join(&e.path),
                None => PathBuf::from(&e.path),
            };
            tar.append_path_with_name(&path, &name)
                .with_context(|| format!("sending {} to the daemon", path.display()))?;
        }
    }
    let mut w = tar.into_inner().context("finishing the context upload")?;
    w.flush().context("finishing the context upload")?;
    Ok(())
}
