//! Progress events of a solve. The same serde types feed the in-process printers,
//! `--progress rawjson` and the daemon's NDJSON stream.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use kiln_frontend::graph::Digest;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One thing that happened during a solve. Times are nanoseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A step began running.
    Started {
        vertex: Digest,
        name: String,
        time: u64,
    },
    /// A step's result came from the cache; it does not run.
    Cached { vertex: Digest, name: String },
    /// Another build is already running this step; this build waits for its result.
    Shared { vertex: Digest, name: String },
    /// Output of a running step.
    Log {
        vertex: Digest,
        stream: Stream,
        data: String,
        time: u64,
    },
    /// Why a step that runs missed the cache (`--explain`, and one line in plain
    /// progress): the input that changed since the last build of the same step.
    Explained { vertex: Digest, reason: String },
    /// A step ended, successfully or not.
    Completed {
        vertex: Digest,
        name: String,
        time: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

pub(crate) fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Where a solve sends its events. Cloneable; a closed receiver is not an error (nobody is
/// watching any more, the build goes on).
#[derive(Clone, Debug)]
pub struct Progress {
    tx: Option<mpsc::UnboundedSender<Event>>,
}

impl Progress {
    /// A progress sink and the receiver to read it from.
    pub fn channel() -> (Progress, mpsc::UnboundedReceiver<Event>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Progress { tx: Some(tx) }, rx)
    }

    /// A sink that drops everything.
    pub fn discard() -> Progress {
        Progress { tx: None }
    }

    pub fn send(&self, event: Event) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(event);
        }
    }

    pub(crate) fn log(&self, vertex: &Digest, stream: Stream, data: &[u8]) {
        self.send(Event::Log {
            vertex: vertex.clone(),
            stream,
            data: String::from_utf8_lossy(data).into_owned(),
            time: now_ns(),
        });
    }
}
