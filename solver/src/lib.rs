//! kiln's solver: turns a build graph into results. It computes cache keys, loads what
//! is cached and runs the rest on a [`Worker`] — independent steps in parallel, each step
//! once — and reports progress as [`Event`]s.
//!
//! API: [`Solver::new`], [`Solver::solve`] with a [`SolveRequest`], giving a [`Solution`]
//! (output, per-vertex [`KeyRecord`]s, which vertices were cached and which ran).

pub mod cachekey;
pub mod context;
pub mod explain;
pub mod local;
pub mod progress;
pub mod remote;
pub mod scheduler;
pub mod worker;

pub use cachekey::{CacheKey, KeyRecord};
pub use progress::{Event, Progress, Stream};
pub use scheduler::{NoCache, Solution, SolveError, SolveRequest, Solver};
pub use worker::{StepContext, Worker, WorkerError};
