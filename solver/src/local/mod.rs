//! The real worker: [`LocalWorker`] keys, loads and runs build steps on kiln's store and
//! executor. A step's result is an immutable state — a chain of layer blobs; snapshot
//! directories are unpacked lazily (once per store) only when a RUN or a file operation
//! needs a root filesystem. Cache records map a cache key to a stored chain document.
//!
//! API: [`LocalWorker::new`], [`Output`], [`ContextDir`], [`chain::Chain`],
//! [`export::write_image`].

mod cache_mount;
pub mod chain;
mod clamp;
pub mod convert;
mod copy;
mod copy_dir;
#[cfg(test)]
mod copy_fixtures;
mod copy_layer;
#[cfg(test)]
mod copy_layer_tests;
#[cfg(test)]
mod copy_tests;
mod entries_layer;
mod exec;
pub mod export;
mod fetched;
mod fileop;
mod git;
mod http;
mod http_fetch;
mod http_name;
mod memo_prune;
mod mount;
mod run_mounts;
pub mod secrets;
pub mod squash;
mod ssh;
mod step_dir;
mod steps;
mod unpack;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use kiln_cache::lease::Lease;
use kiln_cache::Store;
use kiln_executor::Executor;
use kiln_frontend::graph::{Digest, Op, Source, Vertex};

use crate::cachekey::CacheKey;
use crate::context::{select, ChecksumCache, ContextChecksum, Matcher};
use crate::worker::{StepContext, Worker, WorkerError};

pub use cache_mount::{prune as prune_cache_mounts, PrunedCacheMount};
pub use chain::{Chain, Layer};
pub use exec::{FailureShell, RunExtras};
pub use memo_prune::{prune_memos, MemoPruneError, PrunedMemos};

/// A local source (the build context): files are read from the directory as they are,
/// through the step's `.dockerignore` patterns.
#[derive(Debug, Clone)]
pub struct ContextDir {
    pub root: PathBuf,
    pub excludes: Vec<String>,
}

/// The result of a step.
#[derive(Debug, Clone)]
pub enum Output {
    /// A filesystem state: layers, bottom first.
    Chain(Arc<Chain>),
    /// Files of the client (the context): read in place, never stored.
    Context(Arc<ContextDir>),
}

impl Output {
    pub fn chain(&self) -> Option<&Arc<Chain>> {
        match self {
            Output::Chain(c) => Some(c),
            Output::Context(_) => None,
        }
    }
}

/// Runs steps on the store at `store.root()` with `executor`.
pub struct LocalWorker {
    store: Arc<Store>,
    executor: Executor,
    /// Local sources by name (`context` → the context directory).
    locals: BTreeMap<String, PathBuf>,
    proxy_env: Vec<String>,
    /// Every result this worker produced or loaded in this build, by vertex: what a failed
    /// build offers as its last good state.
    results: Mutex<HashMap<Digest, Arc<Chain>>>,
    /// Remote sources (ADD of URLs) fetched while keying, for `run` to reuse.
    fetched: fetched::Fetched,
    /// Keeps what this build wrote and loaded from GC until the build ends.
    lease: Option<Lease>,
    /// Vertices whose result a later step reads as files (see `with_graph_hints`).
    needs_files: std::collections::HashSet<Digest>,
    /// Secrets, SSH agents and the failure shell for RUN steps.
    run_extras: RunExtras,
    /// Context files and the key observer, for explaining cache misses.
    observed: crate::explain::Observed,
    /// `--cache-from` caches, asked when the store has no record for a key.
    remote: crate::remote::RemoteCaches,
}

/// Run blocking work (file walks, layer writing, SQLite) without stalling other steps on a
/// multi-threaded runtime; on a current-thread runtime there is nothing to spare anyway.
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

fn err(e: impl std::error::Error + Send + Sync + 'static) -> WorkerError {
    WorkerError::with_source(e.to_string(), e)
}

impl LocalWorker {
    pub fn new(
        store: Arc<Store>,
        executor: Executor,
        locals: BTreeMap<String, PathBuf>,
        proxy_env: Vec<String>,
    ) -> LocalWorker {
        // Step directories (and mounts) of builds that were killed go before new ones come.
        step_dir::reclaim(store.root());
        LocalWorker {
            store,
            executor,
            locals,
            proxy_env,
            results: Mutex::new(HashMap::new()),
            fetched: Default::default(),
            lease: None,
            needs_files: Default::default(),
            run_extras: RunExtras::default(),
            observed: Default::default(),
            remote: Default::default(),
        }
    }

    /// Tell `observer` the keys of each solve before its steps run (for `--explain`).
    pub fn with_key_observer(mut self, observer: crate::explain::KeyObserver) -> LocalWorker {
        self.observed.observer = Some(observer);
        self
    }

    /// Give RUN steps these secrets, SSH agents and failure shell.
    pub fn with_run_extras(mut self, extras: RunExtras) -> LocalWorker {
        self.run_extras = extras;
        self
    }

    /// Ask these imported caches for results the store lacks (see `crate::remote`).
    pub fn with_remote_caches(mut self, caches: crate::remote::RemoteCaches) -> LocalWorker {
        self.remote = caches;
        self
    }

    /// A result for `key` from the remote caches, its blobs fetched and recorded as a local
    /// cache record, as if the step had run here.
    async fn load_remote(
        &self,
        vertex: &Vertex,
        key: &CacheKey,
    ) -> Result<Option<Output>, WorkerError> {
        if self.remote.is_empty() {
            return Ok(None);
        }
        // GC waits while fetched blobs are not yet referenced by the record or the lease.
        let _guard = self.store.write_guard().map_err(err)?;
        let Some(chain) = self
            .remote
            .materialize_for(&self.store, key, &vertex.digest)
            .await
        else {
            return Ok(None);
        };
        // Layers the cache did not date (`createdAt`) are dated by their import.
        let chain = chain.dated(kiln_cache::db::now());
        blocking(|| {
            let doc = chain.save(&self.store).map_err(err)?;
            self.hold(&chain, Some(&doc))?;
            let layers: Vec<_> = chain.layers.iter().map(|l| l.blob.clone()).collect();
            let description = &vertex.origin.description;
            self.store
                .put_cache_record_with_refs(key.as_str(), None, Some(&doc), description, &layers)
                .map_err(err)
        })?;
        Ok(Some(Output::Chain(Arc::new(chain))))
    }

    /// Hold everything the build writes or loads under `lease` (see
    /// `kiln_cache::lease`); the caller deletes the lease when the build's results are
    /// referenced by images and cache records.
    pub fn with_lease(mut self, lease: Lease) -> LocalWorker {
        self.lease = Some(lease);
        self
    }

    /// Tell the worker which results of `graph` later steps read as files: a COPY whose
    /// files a RUN needs is unpacked while its blob is written, the others stay blobs.
    /// Without hints every copied layer is unpacked lazily, when first needed.
    pub fn with_graph_hints(mut self, graph: &kiln_frontend::graph::Graph) -> LocalWorker {
        self.needs_files = steps::vertices_needing_files(graph);
        self
    }

    /// Lease the blobs of a chain (and its state document) for the rest of the build.
    fn hold(&self, chain: &Chain, doc: Option<&kiln_cache::Digest>) -> Result<(), WorkerError> {
        let Some(l) = &self.lease else { return Ok(()) };
        // One transaction for the whole chain: a cached root holds every layer below it.
        let blobs = chain.layers.iter().map(|layer| &layer.blob).chain(doc);
        self.store.lease_blobs(l, blobs).map_err(err)
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The chain a vertex resolved to in this build, if it did.
    pub fn result_of(&self, vertex: &Digest) -> Option<Arc<Chain>> {
        self.results
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(vertex)
            .cloned()
    }

    fn remember(&self, vertex: &Digest, out: &Output) {
        if let Output::Chain(c) = out {
            self.results
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(vertex.clone(), c.clone());
        }
    }

    fn local_dir(&self, name: &str) -> Result<&Path, WorkerError> {
        self.locals.get(name).map(PathBuf::as_path).ok_or_else(|| {
            WorkerError::new(format!(
                "the build reads local source {name:?}, but no directory was given for it"
            ))
        })
    }

    /// Where the stat cache of a context directory lives.
    fn checksum_cache_path(&self, dir: &Path) -> PathBuf {
        let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        let key = kiln_cache::Digest::of_bytes(canonical.as_os_str().as_encoded_bytes());
        self.store
            .root()
            .join("build-state/context-checksums")
            .join(format!("{}.bin", key.hex()))
    }

    fn context_checksum(
        &self,
        name: &str,
        include: &[String],
        exclude: &[String],
    ) -> Result<String, WorkerError> {
        let dir = self.local_dir(name)?.to_path_buf();
        let matcher = Matcher::from_patterns(exclude).map_err(err)?;
        let include = if include.is_empty() {
            vec![".".to_string()]
        } else {
            include.to_vec()
        };
        let entries = select(&dir, &include, &matcher).map_err(err)?;
        let cache_path = self.checksum_cache_path(&dir);
        let mut cache = ChecksumCache::load(&cache_path);
        let sum = ContextChecksum::compute(&dir, &entries, &mut cache).map_err(err)?;
        // Per-file sums (hashes already in the cache) to name changed files in --explain.
        let files = crate::explain::file_sums(&dir, &entries, &mut cache);
        self.observed.files.insert(&sum.0, files);
        if let Err(e) = cache.save(&cache_path) {
            // Only an optimisation: the next build re-hashes.
            tracing::warn!(
                "saving the context checksum cache {}: {e}",
                cache_path.display()
            );
        }
        Ok(sum.0)
    }

    fn image(&self, reference: &str) -> Result<kiln_cache::ImageRecord, WorkerError> {
        self.store.resolve_image(reference).map_err(|e| match e {
            kiln_cache::StoreError::ImageNotFound(_) => WorkerError::new(format!(
                "image {reference} not found in the store; load or pull it (kiln load -i FILE, kiln pull {reference})"
            )),
            other => err(other),
        })
    }
}

#[async_trait]
impl Worker for LocalWorker {
    type Output = Output;

    fn keys_computed(&self, keys: &[crate::cachekey::KeyRecord]) {
        self.observed.keys_computed(keys);
    }

    async fn content_key(
        &self,
        vertex: &Vertex,
        _ctx: &StepContext,
    ) -> Result<Option<String>, WorkerError> {
        match &vertex.op {
            Op::Source(Source::Image { reference, .. }) => {
                Ok(Some(self.image(reference)?.manifest_digest.to_string()))
            }
            Op::Source(Source::Local {
                name,
                include,
                exclude,
            }) => {
                let (name, include, exclude) = (name.clone(), include.clone(), exclude.clone());
                // Walking and hashing is blocking work.
                blocking(|| self.context_checksum(&name, &include, &exclude)).map(Some)
            }
            Op::Source(source) => {
                if let Some(spec) = http::HttpSpec::of(source) {
                    http::key(self, vertex, &spec).await.map(Some).map_err(err)
                } else if let Some(spec) = git::GitSpec::of(source) {
                    git::key(&spec).await.map(Some).map_err(err)
                } else {
                    Ok(None)
                }
            }
            _ => Ok(None),
        }
    }

    async fn load(&self, vertex: &Vertex, key: &CacheKey) -> Result<Option<Output>, WorkerError> {
        let out = match &vertex.op {
            Op::Source(Source::Scratch) => Some(Output::Chain(Arc::new(Chain::default()))),
            Op::Source(Source::Image { reference, .. }) => {
                let image = self.image(reference)?;
                let chain = blocking(|| Chain::of_image(&self.store, &image)).map_err(err)?;
                Some(Output::Chain(Arc::new(chain)))
            }
            Op::Source(Source::Local { name, exclude, .. }) => {
                Some(Output::Context(Arc::new(ContextDir {
                    root: self.local_dir(name)?.to_path_buf(),
                    excludes: exclude.clone(),
                })))
            }
            // Remote sources are stored results like steps: keyed by what they fetched.
            Op::Source(Source::Git { .. } | Source::Http { .. })
            | Op::Exec(_)
            | Op::File(_)
            | Op::Merge => blocking(|| {
                let Some(rec) = self.store.get_cache_record(key.as_str()).map_err(err)? else {
                    return Ok::<_, WorkerError>(None);
                };
                let Some(doc) = rec.blob else { return Ok(None) };
                let Some(chain) = Chain::load(&self.store, &doc).map_err(err)? else {
                    return Ok(None);
                };
                // Documents from before layer times were kept: the record's time.
                let chain = chain.dated(rec.created);
                self.hold(&chain, Some(&doc))?;
                Ok(Some(Output::Chain(Arc::new(chain))))
            })?,
        };
        let out = match (out, &vertex.op) {
            (None, Op::Exec(_) | Op::File(_) | Op::Merge) => self.load_remote(vertex, key).await?,
            (out, _) => out,
        };
        if let Some(o) = &out {
            self.remember(&vertex.digest, o);
        }
        Ok(out)
    }

    async fn run(
        &self,
        vertex: &Vertex,
        key: &CacheKey,
        inputs: Vec<Output>,
        ctx: &StepContext,
    ) -> Result<Output, WorkerError> {
        let chain = match &vertex.op {
            Op::Exec(exec) => steps::run_exec_step(self, exec, &inputs, ctx).await?,
            Op::File(f) => {
                let store = self.store.clone();
                let actions = f.actions.clone();
                let unpack = self.needs_files.contains(&vertex.digest);
                blocking(|| {
                    steps::run_file_step(&store, self.lease.as_ref(), &actions, &inputs, unpack)
                })?
            }
            Op::Merge => {
                let mut layers = Vec::new();
                for i in &inputs {
                    let c = i.chain().ok_or_else(|| {
                        WorkerError::new("merge of a local source is not possible")
                    })?;
                    layers.extend(c.layers.iter().cloned());
                }
                Chain { layers }
            }
            Op::Source(source) => {
                if let Some(spec) = git::GitSpec::of(source) {
                    git::run(self, vertex, &spec, ctx).await.map_err(err)?
                } else if let Some(spec) = http::HttpSpec::of(source) {
                    http::run(self, vertex, &spec, ctx).await.map_err(err)?
                } else {
                    return self
                        .load(vertex, key)
                        .await?
                        .ok_or_else(|| WorkerError::new("source could not be loaded"));
                }
            }
        };
        // The step's new layers are dated now: what their history entries say from now on.
        let chain = chain.dated(kiln_cache::db::now());
        let description = vertex.origin.description.clone();
        let store = self.store.clone();
        blocking(|| {
            let doc = chain.save(&store).map_err(err)?;
            // The layers the state lists must outlive GC as long as the record does; the
            // lease rows commit with the record (one transaction per step).
            let layers: Vec<_> = chain.layers.iter().map(|l| l.blob.clone()).collect();
            let lease = self.lease.as_ref();
            store
                .put_cache_record_leased(
                    key.as_str(),
                    None,
                    Some(&doc),
                    &description,
                    &layers,
                    lease,
                )
                .map_err(err)
        })?;
        let out = Output::Chain(Arc::new(chain));
        self.remember(&vertex.digest, &out);
        Ok(out)
    }
}
