//! Why a step ran instead of hitting the cache. Every build keeps, per step, what its cache
//! key was computed from (a [`BuildRecord`], keyed by a stable step identity: the stage and
//! the step's index in it), and the next build of the same Dockerfile compares against it
//! to name the input that changed: a context file, an ARG, the base image's digest, the
//! step's own text, or an earlier step that re-ran.
//!
//! API: [`BuildRecord::of`], [`step_ids`], [`explain`], [`Cause`], [`ContextFiles`],
//! [`file_sums`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use kiln_frontend::graph::{Digest, Graph, Op, Source, Vertex};

use crate::cachekey::KeyRecord;
use crate::context::{ChecksumCache, Entry};

/// Files listed by name in one cause line before the rest is summed up.
pub(crate) const MAX_FILES: usize = 5;

/// One selected context file: its metadata (type, mode, owner, size, link) and content hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSum {
    pub meta: String,
    pub content: String,
}

/// Per-file sums of `entries`, using hashes the checksum cache already holds.
pub fn file_sums(
    root: &Path,
    entries: &[Entry],
    cache: &mut ChecksumCache,
) -> BTreeMap<String, FileSum> {
    entries
        .iter()
        .map(|e| {
            let content = match e.kind {
                crate::context::EntryKind::File => cache.file_hash(root, e).unwrap_or_default(),
                _ => String::new(),
            };
            let meta = format!(
                "{:?} {:o} {}:{} {} {}",
                e.kind,
                e.mode,
                e.uid,
                e.gid,
                e.size,
                e.link_target.as_deref().unwrap_or("")
            );
            (e.path.clone(), FileSum { meta, content })
        })
        .collect()
}

/// The per-file sums behind each context checksum the worker computed in this build, by
/// that checksum (a [`KeyRecord`]'s `content`).
#[derive(Debug, Default)]
pub struct ContextFiles(Mutex<HashMap<String, BTreeMap<String, FileSum>>>);

impl ContextFiles {
    pub fn insert(&self, checksum: &str, files: BTreeMap<String, FileSum>) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(checksum.to_string(), files);
    }

    pub fn get(&self, checksum: &str) -> Option<BTreeMap<String, FileSum>> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(checksum)
            .cloned()
    }
}

/// Told the keys of a solve before any step runs, with the context files behind them.
pub type KeyObserver = std::sync::Arc<dyn Fn(&[KeyRecord], &ContextFiles) + Send + Sync>;

/// What a worker keeps for explanations: context files by checksum, and who to tell
/// when the keys are known.
#[derive(Default)]
pub struct Observed {
    pub files: ContextFiles,
    pub observer: Option<KeyObserver>,
}

impl Observed {
    pub fn keys_computed(&self, keys: &[KeyRecord]) {
        if let Some(o) = &self.observer {
            o(keys, &self.files);
        }
    }
}

/// One input of a step as the explanation compares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InputRecord {
    /// Another step of the build, by step id.
    Step {
        id: String,
        key: String,
    },
    Image {
        reference: String,
        digest: String,
    },
    /// The build context, by the checksum of the files the step selects (their lists are
    /// kept apart, see [`FileLists`]).
    Context {
        checksum: String,
    },
    Other {
        key: String,
    },
}

/// What one step's cache key came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The instruction as shown in progress (`RUN make`), without the `[stage i/n]` prefix.
    pub name: String,
    pub key: String,
    pub op: Op,
    /// Manifest digest, for an image source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    pub inputs: Vec<InputRecord>,
}

/// Every step of one build, by step id (`stage index`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildRecord {
    pub steps: BTreeMap<String, StepRecord>,
    /// Steps that ran with these inputs and failed (the record of a failed build keeps
    /// what last ran: its completed and failed steps, and earlier records of the rest).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub failed: BTreeSet<String>,
}

/// `[build 2/4] RUN make` → (`build 2`, `RUN make`). Sources that only feed an
/// instruction (the context, `COPY --from=image`) carry that instruction's origin but are
/// not steps; a `FROM` image is.
fn origin_id(v: &Vertex) -> Option<(String, String)> {
    let rest = v.origin.description.strip_prefix('[')?;
    let (inside, name) = rest.split_once("] ")?;
    let (id, _) = inside.rsplit_once('/')?;
    match &v.op {
        Op::Source(Source::Image { .. }) if name.starts_with("FROM ") => {}
        Op::Source(_) => return None,
        _ => {}
    }
    Some((id.to_string(), name.to_string()))
}

/// Stable ids of the graph's steps: (id, name) by vertex. Vertices of one instruction
/// (a `COPY --link` layer and its merge) get the id once each, later ones suffixed.
pub fn step_ids(graph: &Graph) -> HashMap<Digest, (String, String)> {
    let mut out = HashMap::new();
    let mut taken = BTreeSet::new();
    for v in graph.vertices() {
        let Some((mut id, name)) = origin_id(v) else {
            continue;
        };
        let mut n = 1;
        while taken.contains(&id) {
            n += 1;
            id = format!("{} #{n}", id.split(" #").next().unwrap_or(&id));
        }
        taken.insert(id.clone());
        out.insert(v.digest.clone(), (id, name));
    }
    out
}

impl BuildRecord {
    /// The context checksums the steps' inputs name.
    pub fn context_checksums(&self) -> BTreeSet<String> {
        self.steps
            .values()
            .flat_map(|s| &s.inputs)
            .filter_map(|i| match i {
                InputRecord::Context { checksum } => Some(checksum.clone()),
                _ => None,
            })
            .collect()
    }

    /// The record of a solve: its graph and its keys.
    pub fn of(graph: &Graph, keys: &[KeyRecord]) -> BuildRecord {
        let by_vertex: HashMap<_, _> = keys.iter().map(|k| (&k.vertex, k)).collect();
        let ids = step_ids(graph);
        let mut steps = BTreeMap::new();
        for v in graph.vertices() {
            let (Some((id, name)), Some(k)) = (ids.get(&v.digest), by_vertex.get(&v.digest)) else {
                continue;
            };
            let (id, name) = (id.clone(), name.clone());
            let inputs = v
                .inputs
                .iter()
                .map(|i| input_record(graph, &ids, &by_vertex, i))
                .collect();
            steps.insert(
                id,
                StepRecord {
                    name,
                    key: k.key.to_string(),
                    op: v.op.clone(),
                    content: match v.op {
                        Op::Source(Source::Image { .. }) => k.content.clone(),
                        _ => None,
                    },
                    inputs,
                },
            );
        }
        BuildRecord {
            steps,
            failed: BTreeSet::new(),
        }
    }

    /// The record after a failed build: `self` (the last record) updated with the steps of
    /// `current` that completed, and `failed`'s step marked as failed. Steps the build did
    /// not reach keep their last record, so the next build explains against what last ran.
    pub fn after_failure(
        &self,
        current: &BuildRecord,
        completed: &BTreeSet<String>,
        failed: Option<&str>,
    ) -> BuildRecord {
        let mut out = self.clone();
        for id in completed.iter().map(String::as_str).chain(failed) {
            if let Some(step) = current.steps.get(id) {
                out.steps.insert(id.to_string(), step.clone());
                out.failed.remove(id);
            }
        }
        if let Some(id) = failed.filter(|id| current.steps.contains_key(*id)) {
            out.failed.insert(id.to_string());
        }
        out
    }
}

fn input_record(
    graph: &Graph,
    ids: &HashMap<Digest, (String, String)>,
    keys: &HashMap<&Digest, &KeyRecord>,
    d: &Digest,
) -> InputRecord {
    let key = keys.get(d).map(|k| k.key.to_string()).unwrap_or_default();
    let Some(v) = graph.get(d) else {
        return InputRecord::Other { key };
    };
    if let Some((id, _)) = ids.get(d) {
        return InputRecord::Step {
            id: id.clone(),
            key,
        };
    }
    let content = keys.get(d).and_then(|k| k.content.clone());
    match (&v.op, content) {
        (Op::Source(Source::Image { reference, .. }), Some(digest)) => InputRecord::Image {
            reference: reference.clone(),
            digest,
        },
        (Op::Source(Source::Local { .. }), Some(checksum)) => InputRecord::Context { checksum },
        _ => InputRecord::Other { key },
    }
}

mod causes;
pub use causes::{explain, Cause, FileLists};

#[cfg(test)]
mod tests;
