//! Explaining cache misses (`kiln build --explain`, and a `cache miss:` line per step in
//! progress): the solver's keys of this build are compared with the record kept from the
//! last build of the same Dockerfile, context and target (a failed build updates it with
//! the steps it completed and the one that failed), in
//! `<store>/build-state/explain/<id>.json`, with the file lists behind its context
//! checksums in `<id>.files/<checksum>.json` (read only when a context input changed).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use kiln_frontend::graph::{Digest, Graph};
use kiln_solver::explain::{
    explain, step_ids, BuildRecord, Cause, ContextFiles, FileSum, KeyObserver,
};
use kiln_solver::{Event, KeyRecord, NoCache};

/// Compares this build with the last one of the same identity.
pub struct Explainer {
    state_path: PathBuf,
    /// File lists of context checksums, one file each.
    files_dir: PathBuf,
    /// Lists of this build not on disk yet, written by `save`.
    new_files: Mutex<HashMap<String, BTreeMap<String, FileSum>>>,
    previous: BuildRecord,
    arg_names: BTreeSet<String>,
    no_cache: NoCache,
    graph: Arc<Graph>,
    current: Mutex<Option<BuildRecord>>,
    reasons: Mutex<HashMap<Digest, Vec<Cause>>>,
    /// Steps of this build that completed (ran or came from the cache), from progress.
    completed: Mutex<BTreeSet<Digest>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The names every `ARG` instruction of the Dockerfile declares (what a changed variable
/// is called: ARG, or else ENV).
pub fn arg_names(dockerfile: &[u8]) -> BTreeSet<String> {
    let text = String::from_utf8_lossy(dockerfile);
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let line = line.trim_start();
        let Some((word, rest)) = line.split_once(char::is_whitespace) else {
            continue;
        };
        if !word.eq_ignore_ascii_case("ARG") {
            continue;
        }
        for decl in rest.split_whitespace() {
            let name = decl.split('=').next().unwrap_or_default();
            if !name.is_empty() {
                out.insert(name.to_string());
            }
        }
    }
    out
}

impl Explainer {
    /// `identity` names "the same build" (context, Dockerfile, target).
    pub fn new(
        store_root: &std::path::Path,
        identity: &str,
        dockerfile: &[u8],
        graph: Arc<Graph>,
        no_cache: NoCache,
    ) -> Arc<Explainer> {
        let id = kiln_cache::Digest::of_bytes(identity.as_bytes());
        let dir = store_root.join("build-state/explain");
        let state_path = dir.join(format!("{}.json", id.hex()));
        let files_dir = dir.join(format!("{}.files", id.hex()));
        // A missing or unreadable record only means nothing to compare with.
        let previous = std::fs::read(&state_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Arc::new(Explainer {
            state_path,
            files_dir,
            new_files: Mutex::new(HashMap::new()),
            previous,
            arg_names: arg_names(dockerfile),
            no_cache,
            graph,
            current: Mutex::new(None),
            reasons: Mutex::new(HashMap::new()),
            completed: Mutex::new(BTreeSet::new()),
        })
    }

    /// For the worker: record this build's keys and work out every step's reasons.
    pub fn observer(self: &Arc<Self>) -> KeyObserver {
        let this = self.clone();
        Arc::new(move |keys: &[KeyRecord], files: &ContextFiles| {
            let current = BuildRecord::of(&this.graph, keys);
            let lists = |checksum: &str| files.get(checksum).or_else(|| this.read_list(checksum));
            let mut reasons = HashMap::new();
            let ids = step_ids(&this.graph);
            for v in this.graph.vertices() {
                let Some((id, _)) = ids.get(&v.digest) else {
                    continue;
                };
                let no_cache = match &this.no_cache {
                    NoCache::Off => false,
                    NoCache::All => true,
                    NoCache::Vertices(set) => set.contains(&v.digest),
                };
                let causes = if no_cache {
                    vec![Cause::NoCache]
                } else {
                    explain(&this.previous, &current, id, &this.arg_names, &lists)
                };
                reasons.insert(v.digest.clone(), causes);
            }
            *lock(&this.reasons) = reasons;
            let mut new_files = lock(&this.new_files);
            for checksum in current.context_checksums() {
                if !this.list_path(&checksum).exists() {
                    if let Some(list) = files.get(&checksum) {
                        new_files.insert(checksum, list);
                    }
                }
            }
            drop(new_files);
            *lock(&this.current) = Some(current);
        })
    }

    /// The event that follows `ev` in progress: a step that started gets its reason.
    pub fn follow(&self, ev: &Event) -> Option<Event> {
        let vertex = match ev {
            Event::Started { vertex, .. } => vertex,
            Event::Cached { vertex, .. }
            | Event::Completed {
                vertex,
                error: None,
                ..
            } => {
                lock(&self.completed).insert(vertex.clone());
                return None;
            }
            _ => return None,
        };
        let reasons = lock(&self.reasons);
        let causes = reasons.get(vertex)?;
        Some(Event::Explained {
            vertex: vertex.clone(),
            reason: join(causes),
        })
    }

    /// `--explain`'s report: every step that ran and why.
    pub fn report(&self, ran: &BTreeSet<Digest>) -> String {
        let reasons = lock(&self.reasons);
        let mut lines = Vec::new();
        for v in self.graph.vertices() {
            if !ran.contains(&v.digest) {
                continue;
            }
            let Some(causes) = reasons.get(&v.digest) else {
                continue;
            };
            lines.push(format!(
                "{}\n    {}",
                v.origin.description,
                causes_list(causes)
            ));
        }
        if lines.is_empty() {
            return "explain: every step came from the cache".into();
        }
        format!("explain: steps that ran and why:\n  {}", lines.join("\n  "))
    }

    fn list_path(&self, checksum: &str) -> PathBuf {
        let hex = checksum.strip_prefix("sha256:").unwrap_or(checksum);
        self.files_dir.join(format!("{hex}.json"))
    }

    fn read_list(&self, checksum: &str) -> Option<BTreeMap<String, FileSum>> {
        let bytes = std::fs::read(self.list_path(checksum)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Keep this build's record for the next build to compare with: the record when it
    /// changed, the file lists it names that are new, none it no longer names. Best effort.
    pub fn save(&self) {
        let Some(current) = lock(&self.current).take() else {
            return;
        };
        self.write(current);
    }

    /// After a failed build (`failed`: the step that failed, if one did): keep what ran,
    /// the completed steps and the failed one, over the last record. Best effort.
    pub fn save_failed(&self, failed: Option<&Digest>) {
        let Some(current) = lock(&self.current).take() else {
            return; // failed before the keys were known: nothing ran
        };
        let ids = step_ids(&self.graph);
        let id_of = |d: &Digest| ids.get(d).map(|(id, _)| id.clone());
        let completed: BTreeSet<String> = lock(&self.completed).iter().filter_map(id_of).collect();
        let failed = failed.and_then(id_of);
        let record = self
            .previous
            .after_failure(&current, &completed, failed.as_deref());
        self.write(record);
    }

    fn write(&self, current: BuildRecord) {
        let new_files = std::mem::take(&mut *lock(&self.new_files));
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(&self.files_dir)?;
            for (checksum, list) in &new_files {
                atomic_write(&self.list_path(checksum), &serde_json::to_vec(list)?)?;
            }
            if current != self.previous {
                atomic_write(&self.state_path, &serde_json::to_vec(&current)?)?;
            }
            let keep: BTreeSet<PathBuf> = current
                .context_checksums()
                .iter()
                .map(|c| self.list_path(c))
                .collect();
            for entry in std::fs::read_dir(&self.files_dir)?.flatten() {
                if !keep.contains(&entry.path()) {
                    std::fs::remove_file(entry.path())?;
                }
            }
            Ok(())
        };
        if let Err(e) = write() {
            tracing::warn!(
                "keeping the build record {} for --explain: {e}",
                self.state_path.display()
            );
        }
    }
}

/// Temp file and rename: a reader never sees half a record.
fn atomic_write(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

fn join(causes: &[Cause]) -> String {
    causes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn causes_list(causes: &[Cause]) -> String {
    causes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n    ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_arg_names_in_any_case_with_defaults() {
        let df = b"FROM busybox\narg VERSION=1.2\nARG A B=2\nRUN echo ARG X\n";
        let names: Vec<String> = arg_names(df).into_iter().collect();
        assert_eq!(names, ["A", "B", "VERSION"]);
    }
}
