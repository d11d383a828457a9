//! The interface the solver drives: a [`Worker`] knows how to key, load and run one vertex.
//! The solver itself never touches files, images or containers; the kiln binary hands it a
//! worker built on the store and the executor (BuildKit's solver/worker split).

use std::sync::Arc;

use async_trait::async_trait;
use kiln_frontend::graph::Vertex;
use tokio_util::sync::CancellationToken;

use crate::cachekey::CacheKey;
use crate::progress::{Progress, Stream};

/// A worker's failure, with enough text for the user; the solver adds which step failed.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct WorkerError {
    pub message: String,
    /// The process exit code, when a step's command failed.
    pub exit_code: Option<i32>,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl WorkerError {
    pub fn new(message: impl Into<String>) -> WorkerError {
        WorkerError {
            message: message.into(),
            exit_code: None,
            source: None,
        }
    }

    pub fn with_source(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> WorkerError {
        WorkerError {
            message: message.into(),
            exit_code: None,
            source: Some(Box::new(source)),
        }
    }
}

/// What a worker gets while it keys or runs one vertex: where to report output and when to
/// stop.
#[derive(Clone)]
pub struct StepContext {
    pub(crate) progress: Progress,
    pub(crate) vertex: kiln_frontend::graph::Digest,
    pub cancel: CancellationToken,
}

impl StepContext {
    /// Report a chunk of the step's output (a line, or part of one).
    pub fn log(&self, stream: Stream, data: &[u8]) {
        self.progress.log(&self.vertex, stream, data);
    }
}

/// Keys, loads and runs vertices. `Output` is the worker's handle to a result (a snapshot,
/// a layer chain, an image); the solver only passes it along.
#[async_trait]
pub trait Worker: Send + Sync + 'static {
    type Output: Clone + Send + Sync + 'static;

    /// The content part of the vertex's cache key, for what the definition alone cannot
    /// pin: an image source's manifest digest, the checksums of the context files a local
    /// source selects. `None` when the definition and the input keys are enough.
    async fn content_key(
        &self,
        vertex: &Vertex,
        ctx: &StepContext,
    ) -> Result<Option<String>, WorkerError>;

    /// Told every vertex's key once they are computed, before any step runs (what a
    /// build's explanation of cache misses compares). Nothing by default.
    fn keys_computed(&self, _keys: &[crate::cachekey::KeyRecord]) {}

    /// A stored result for `key`, if there is one.
    async fn load(
        &self,
        vertex: &Vertex,
        key: &CacheKey,
    ) -> Result<Option<Self::Output>, WorkerError>;

    /// Run the vertex over its inputs' results (in the vertex's input order) and store the
    /// result under `key`.
    async fn run(
        &self,
        vertex: &Vertex,
        key: &CacheKey,
        inputs: Vec<Self::Output>,
        ctx: &StepContext,
    ) -> Result<Self::Output, WorkerError>;
}

#[async_trait]
impl<W: Worker> Worker for Arc<W> {
    type Output = W::Output;

    async fn content_key(
        &self,
        vertex: &Vertex,
        ctx: &StepContext,
    ) -> Result<Option<String>, WorkerError> {
        (**self).content_key(vertex, ctx).await
    }

    fn keys_computed(&self, keys: &[crate::cachekey::KeyRecord]) {
        (**self).keys_computed(keys)
    }

    async fn load(
        &self,
        vertex: &Vertex,
        key: &CacheKey,
    ) -> Result<Option<Self::Output>, WorkerError> {
        (**self).load(vertex, key).await
    }

    async fn run(
        &self,
        vertex: &Vertex,
        key: &CacheKey,
        inputs: Vec<Self::Output>,
        ctx: &StepContext,
    ) -> Result<Self::Output, WorkerError> {
        (**self).run(vertex, key, inputs, ctx).await
    }
}
