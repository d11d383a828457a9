//! Solving a graph: key every vertex the target needs, then materialise the target,
//! loading cached results where they exist and running the rest — independent vertices in
//! parallel (bounded by `jobs`), each vertex once per solve, and each cache key once across
//! concurrent solves on the same [`Solver`].
//!
//! The whole state machine is this file: a vertex's result is a shared future; a vertex
//! that is cached never asks for its inputs, so a fully cached build touches only its root.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use futures::future::{BoxFuture, FutureExt, Shared};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use kiln_frontend::graph::{Digest, Graph, Op, Source, Vertex};

use crate::cachekey::{CacheKey, KeyRecord};
use crate::progress::{now_ns, Event, Progress};
use crate::worker::{StepContext, Worker, WorkerError};

/// Why a solve failed.
#[derive(Debug, thiserror::Error)]
pub enum SolveError {
    #[error("the build target {0} is not in the build graph")]
    MissingVertex(Digest),
    #[error("{name}: {source}")]
    Step {
        vertex: Digest,
        name: String,
        #[source]
        source: WorkerError,
    },
    #[error("build cancelled")]
    Cancelled,
    #[error("internal error: a build task stopped unexpectedly: {0}")]
    Task(String),
}

impl SolveError {
    /// The exit code of the failed step's process, if a process failed.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            SolveError::Step { source, .. } => source.exit_code,
            _ => None,
        }
    }
}

/// Which vertices must not be loaded from the cache.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NoCache {
    #[default]
    Off,
    All,
    Vertices(BTreeSet<Digest>),
}

impl NoCache {
    fn applies(&self, d: &Digest) -> bool {
        match self {
            NoCache::Off => false,
            NoCache::All => true,
            NoCache::Vertices(set) => set.contains(d),
        }
    }
}

/// One solve: the graph, what to build, and where to report.
pub struct SolveRequest {
    pub graph: Arc<Graph>,
    pub root: Digest,
    pub no_cache: NoCache,
    pub progress: Progress,
    pub cancel: CancellationToken,
}

/// The target's result, and what the solve did to get it.
#[derive(Debug, Clone)]
pub struct Solution<O> {
    pub output: O,
    /// Cache keys of every vertex the target needs, inputs first.
    pub keys: Vec<KeyRecord>,
    pub cached: BTreeSet<Digest>,
    pub ran: BTreeSet<Digest>,
}

type SharedResult<O> = Shared<BoxFuture<'static, Result<O, Arc<SolveError>>>>;

/// Runs build graphs on a worker. One solver serves many concurrent solves (the daemon
/// keeps one), deduplicating steps with equal cache keys between them.
pub struct Solver<W: Worker> {
    worker: Arc<W>,
    jobs: Arc<Semaphore>,
    inflight: Arc<Mutex<HashMap<CacheKey, SharedResult<W::Output>>>>,
}

impl<W: Worker> Solver<W> {
    /// A solver running at most `jobs` steps at once (at least one).
    pub fn new(worker: W, jobs: usize) -> Solver<W> {
        Solver {
            worker: Arc::new(worker),
            jobs: Arc::new(Semaphore::new(jobs.max(1))),
            inflight: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    pub fn worker(&self) -> &Arc<W> {
        &self.worker
    }

    /// A solver for `worker` sharing this one's step limit and in-flight steps: the daemon
    /// gives each build its own worker (its context, its lease) and still runs each cache
    /// key once across all of them.
    pub fn sibling(&self, worker: W) -> Solver<W> {
        Solver {
            worker: Arc::new(worker),
            jobs: self.jobs.clone(),
            inflight: self.inflight.clone(),
        }
    }

    pub async fn solve(&self, req: SolveRequest) -> Result<Solution<W::Output>, Arc<SolveError>> {
        let graph = Arc::new(req.graph.pruned(&req.root));
        if graph.get(&req.root).is_none() {
            return Err(Arc::new(SolveError::MissingVertex(req.root)));
        }
        // Stop spawned steps when this solve ends early (error, cancel, caller dropped us).
        let cancel = req.cancel.child_token();
        let _stop_on_exit = cancel.clone().drop_guard();
        let keys = self.compute_keys(&graph, &req.progress, &cancel).await?;
        self.worker.keys_computed(&keys);
        let visit_inputs = needs_inputs_first(&graph, &req.no_cache);
        let state = Arc::new(State {
            graph,
            keys: keys.iter().map(|k| (k.vertex.clone(), k.clone())).collect(),
            worker: self.worker.clone(),
            jobs: self.jobs.clone(),
            inflight: self.inflight.clone(),
            visit_inputs,
            no_cache: req.no_cache,
            progress: req.progress,
            cancel,
            memo: Mutex::new(HashMap::new()),
            cached: Mutex::new(BTreeSet::new()),
            ran: Mutex::new(BTreeSet::new()),
        });
        let output = State::materialize(&state, req.root).await?;
        let cached = lock(&state.cached).clone();
        let ran = lock(&state.ran).clone();
        Ok(Solution {
            output,
            keys,
            cached,
            ran,
        })
    }

    /// Keys bottom-up: content keys concurrently (they do not depend on inputs), then
    /// each vertex's key from its inputs' keys in topological order.
    async fn compute_keys(
        &self,
        graph: &Graph,
        progress: &Progress,
        cancel: &CancellationToken,
    ) -> Result<Vec<KeyRecord>, Arc<SolveError>> {
        let vertices: Vec<&Vertex> = graph.vertices().collect();
        let contents = futures::future::join_all(vertices.iter().map(|v| {
            let ctx = StepContext {
                progress: progress.clone(),
                vertex: v.digest.clone(),
                cancel: cancel.clone(),
            };
            let worker = self.worker.clone();
            async move { worker.content_key(v, &ctx).await }
        }))
        .await;
        let mut by_vertex: HashMap<&Digest, CacheKey> = HashMap::new();
        let mut records = Vec::with_capacity(vertices.len());
        for (v, content) in vertices.iter().zip(contents) {
            let content = content.map_err(|e| step_error(v, e))?;
            let inputs = v
                .inputs
                .iter()
                .map(|i| by_vertex.get(i).cloned())
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| Arc::new(SolveError::MissingVertex(v.digest.clone())))?;
            let record = KeyRecord::compute(
                v.digest.clone(),
                crate::cachekey::key_op_digest(v, &content),
                inputs,
                content,
            );
            by_vertex.insert(&v.digest, record.key.clone());
            records.push(record);
        }
        Ok(records)
    }
}

/// Vertices with a no-cache vertex among their (transitive) inputs.
fn needs_inputs_first(graph: &Graph, no_cache: &NoCache) -> BTreeSet<Digest> {
    let mut out = BTreeSet::new();
    if *no_cache == NoCache::Off {
        return out;
    }
    // Topological order: inputs are decided before the vertices that use them.
    for v in graph.vertices() {
        if v.inputs
            .iter()
            .any(|i| out.contains(i) || no_cache.applies(i))
        {
            out.insert(v.digest.clone());
        }
    }
    out
}

fn step_error(v: &Vertex, source: WorkerError) -> Arc<SolveError> {
    Arc::new(SolveError::Step {
        vertex: v.digest.clone(),
        name: display_name(v),
        source,
    })
}

fn display_name(v: &Vertex) -> String {
    // Sources that only feed an instruction are named as BuildKit names them, not after
    // the instruction they feed (which has its own step).
    match &v.op {
        Op::Source(Source::Local { name, .. }) if name == "context" => {
            return "[internal] load build context".into()
        }
        Op::Source(Source::Local { name, .. }) => return format!("[internal] load {name}"),
        Op::Source(Source::Scratch) => return "[internal] scratch".into(),
        _ => {}
    }
    if v.origin.description.is_empty() {
        format!("{} {}", v.op.kind(), v.digest.short())
    } else {
        v.origin.description.clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere must not wedge the build; the data is still consistent sets/maps.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct State<W: Worker> {
    graph: Arc<Graph>,
    keys: HashMap<Digest, KeyRecord>,
    worker: Arc<W>,
    jobs: Arc<Semaphore>,
    inflight: Arc<Mutex<HashMap<CacheKey, SharedResult<W::Output>>>>,
    no_cache: NoCache,
    /// Vertices above a no-cache vertex: their inputs are materialised before a cache
    /// lookup, so the no-cache steps below them really run.
    visit_inputs: BTreeSet<Digest>,
    progress: Progress,
    cancel: CancellationToken,
    memo: Mutex<HashMap<Digest, SharedResult<W::Output>>>,
    cached: Mutex<BTreeSet<Digest>>,
    ran: Mutex<BTreeSet<Digest>>,
}

impl<W: Worker> State<W> {
    /// The shared result of vertex `d`, started at most once per solve.
    fn materialize(this: &Arc<Self>, d: Digest) -> SharedResult<W::Output> {
        let mut memo = lock(&this.memo);
        if let Some(existing) = memo.get(&d) {
            return existing.clone();
        }
        let state = this.clone();
        let digest = d.clone();
        // Each vertex runs as its own task so independent steps use both cores.
        let task = tokio::spawn(async move { state.resolve(digest).await });
        let fut = async move {
            task.await
                .map_err(|e| Arc::new(SolveError::Task(e.to_string())))?
        }
        .boxed()
        .shared();
        memo.insert(d, fut.clone());
        fut
    }

    async fn resolve(self: Arc<Self>, d: Digest) -> Result<W::Output, Arc<SolveError>> {
        let v = self
            .graph
            .get(&d)
            .ok_or_else(|| Arc::new(SolveError::MissingVertex(d.clone())))?;
        let record = self
            .keys
            .get(&d)
            .ok_or_else(|| Arc::new(SolveError::MissingVertex(d.clone())))?;
        let name = display_name(v);
        let early_inputs = if self.visit_inputs.contains(&d) {
            Some(self.inputs_of(v).await?)
        } else {
            None
        };
        if !self.no_cache.applies(&d) {
            if let Some(out) = self
                .worker
                .load(v, &record.key)
                .await
                .map_err(|e| step_error(v, e))?
            {
                self.progress.send(Event::Cached {
                    vertex: d.clone(),
                    name,
                });
                lock(&self.cached).insert(d);
                return Ok(out);
            }
        }
        let inputs = match early_inputs {
            Some(i) => i,
            None => self.inputs_of(v).await?,
        };
        self.run_once(v, &record.key, inputs).await
    }

    async fn inputs_of(self: &Arc<Self>, v: &Vertex) -> Result<Vec<W::Output>, Arc<SolveError>> {
        let input_futs: Vec<_> = v
            .inputs
            .iter()
            .map(|i| State::materialize(self, i.clone()))
            .collect();
        futures::future::try_join_all(input_futs).await
    }

    /// Run `v`, or wait for another solve that is already running the same key.
    async fn run_once(
        self: &Arc<Self>,
        v: &Vertex,
        key: &CacheKey,
        inputs: Vec<W::Output>,
    ) -> Result<W::Output, Arc<SolveError>> {
        // Another solve may have finished this key (and left the in-flight map) while we
        // waited for our inputs after our cache miss: look again before running it twice.
        if !self.no_cache.applies(&v.digest) && !lock(&self.inflight).contains_key(key) {
            if let Some(out) = self
                .worker
                .load(v, key)
                .await
                .map_err(|e| step_error(v, e))?
            {
                self.progress.send(Event::Cached {
                    vertex: v.digest.clone(),
                    name: display_name(v),
                });
                lock(&self.cached).insert(v.digest.clone());
                return Ok(out);
            }
        }
        let (fut, leader) = {
            let mut inflight = lock(&self.inflight);
            match inflight.get(key) {
                Some(existing) => (existing.clone(), false),
                None => {
                    let fut = self
                        .clone()
                        .run_step(v.clone(), key.clone(), inputs)
                        .boxed()
                        .shared();
                    inflight.insert(key.clone(), fut.clone());
                    (fut, true)
                }
            }
        };
        if !leader {
            self.progress.send(Event::Shared {
                vertex: v.digest.clone(),
                name: display_name(v),
            });
        }
        let result = fut.await;
        if leader {
            lock(&self.inflight).remove(key);
            if result.is_ok() {
                lock(&self.ran).insert(v.digest.clone());
            }
        } else if result.is_ok() {
            lock(&self.cached).insert(v.digest.clone());
        }
        result
    }

    async fn run_step(
        self: Arc<Self>,
        v: Vertex,
        key: CacheKey,
        inputs: Vec<W::Output>,
    ) -> Result<W::Output, Arc<SolveError>> {
        let _permit = tokio::select! {
            permit = self.jobs.clone().acquire_owned() => permit
                .map_err(|e| Arc::new(SolveError::Task(e.to_string())))?,
            _ = self.cancel.cancelled() => return Err(Arc::new(SolveError::Cancelled)),
        };
        let name = display_name(&v);
        self.progress.send(Event::Started {
            vertex: v.digest.clone(),
            name: name.clone(),
            time: now_ns(),
        });
        let ctx = StepContext {
            progress: self.progress.clone(),
            vertex: v.digest.clone(),
            cancel: self.cancel.clone(),
        };
        let result = tokio::select! {
            r = self.worker.run(&v, &key, inputs, &ctx) => r.map_err(|e| step_error(&v, e)),
            _ = self.cancel.cancelled() => Err(Arc::new(SolveError::Cancelled)),
        };
        // A worker that noticed the cancellation first reports its own error; the user
        // asked to stop, so say that.
        let result = match result {
            Err(_) if self.cancel.is_cancelled() => Err(Arc::new(SolveError::Cancelled)),
            other => other,
        };
        self.progress.send(Event::Completed {
            vertex: v.digest.clone(),
            name,
            time: now_ns(),
            error: result.as_ref().err().map(|e| e.to_string()),
        });
        result
    }
}
