//! Transfer progress events, for a CLI to draw bars or print lines from.

use std::sync::Arc;

use crate::digest::Digest;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    Downloading,
    Uploading,
    /// The registry already had the blob (push) or the caller did (pull).
    Skipped,
    /// Cross-repository mount: no bytes moved.
    Mounted,
    Done,
}

#[derive(Clone, Debug)]
pub struct Progress {
    pub digest: Digest,
    pub phase: Phase,
    pub done: u64,
    pub total: u64,
}

pub(crate) type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;
