//! The real worker: [`LocalWorker`] keys, loads and runs build steps on kiln's store and
//! executor. A step's result is an immutable state — a chain of layer blobs; snapshot
//! directories are unpacked lazily (once per store) only when a RUN or a file operation
//! needs a root filesystem. Cache records map a cache key to a stored chain document.
//!
//! API: [`LocalWorker::new`], [`Output`], [`ContextDir`], [`chain::Chain`],
//! [`export::write_image`].

pub mod chain;
mod copy;
#[cfg(test)]
mod copy_tests;
mod exec;
pub mod export;
mod fileop;
mod mount;
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

pub use chain::{Chain, Layer};

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
    /// Keeps what this build wrote and loaded from GC until the build ends.
    lease: Option<Lease>,
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
        LocalWorker {
            store,
            executor,
            locals,
            proxy_env,
            results: Mutex::new(HashMap::new()),
            lease: None,
        }
    }

    /// Hold everything the build writes or loads under `lease` (see
    /// `kiln_cache::lease`); the caller deletes the lease when the build's results are
    /// referenced by images and cache records.
    pub fn with_lease(mut self, lease: Lease) -> LocalWorker {
        self.lease = Some(lease);
        self
    }

    /// Lease the blobs of a chain (and its state document) for the rest of the build.
    fn hold(&self, chain: &Chain, doc: Option<&kiln_cache::Digest>) -> Result<(), WorkerError> {
        let Some(l) = &self.lease else { return Ok(()) };
        for layer in &chain.layers {
            self.store.lease_blob(l, &layer.blob).map_err(err)?;
        }
        if let Some(d) = doc {
            self.store.lease_blob(l, d).map_err(err)?;
        }
        Ok(())
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
            .join(format!("{}.json", key.hex()))
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
            Op::Source(Source::Git { .. }) | Op::Source(Source::Http { .. }) => None,
            Op::Exec(_) | Op::File(_) | Op::Merge => blocking(|| {
                let Some(rec) = self.store.get_cache_record(key.as_str()).map_err(err)? else {
                    return Ok::<_, WorkerError>(None);
                };
                let Some(doc) = rec.blob else { return Ok(None) };
                let Some(chain) = Chain::load(&self.store, &doc).map_err(err)? else {
                    return Ok(None);
                };
                self.hold(&chain, Some(&doc))?;
                Ok(Some(Output::Chain(Arc::new(chain))))
            })?,
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
                blocking(|| steps::run_file_step(&store, self.lease.as_ref(), &actions, &inputs))?
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
            Op::Source(Source::Git { remote, .. }) => {
                return Err(WorkerError::new(format!(
                    "git sources ({remote}) are not supported yet; clone in a RUN step instead"
                )))
            }
            Op::Source(Source::Http { url, .. }) => {
                return Err(WorkerError::new(format!(
                    "ADD of a URL ({url}) is not supported yet; download in a RUN step instead"
                )))
            }
            Op::Source(_) => {
                return self
                    .load(vertex, key)
                    .await?
                    .ok_or_else(|| WorkerError::new("source could not be loaded"))
            }
        };
        let description = vertex.origin.description.clone();
        let store = self.store.clone();
        blocking(|| {
            let doc = chain.save(&store).map_err(err)?;
            self.hold(&chain, Some(&doc))?;
            // The layers the state lists must outlive GC as long as the record does.
            let layers: Vec<_> = chain.layers.iter().map(|l| l.blob.clone()).collect();
            store
                .put_cache_record_with_refs(key.as_str(), None, Some(&doc), &description, &layers)
                .map_err(err)
        })?;
        let out = Output::Chain(Arc::new(chain));
        self.remember(&vertex.digest, &out);
        Ok(out)
    }
}
