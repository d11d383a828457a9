//! What the daemon asks of the program that embeds it: compiling a build and solving it.
//! The kiln binary implements [`BuildBackend`] with the same code its in-process `kiln
//! build` runs (and one solver shared by every build, so concurrent builds dedup steps).

use std::path::PathBuf;

use async_trait::async_trait;
use kiln_solver::Event;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::api::{BuildRequest, Control, ErrorBody, LocalSource, StreamLine};

/// The outcome of compiling a build request.
pub enum Prepare<S> {
    /// Compiled; the client sends the files `sources` select, then the daemon solves.
    Ready {
        session: S,
        warnings: Vec<String>,
        sources: Vec<LocalSource>,
    },
    /// Not buildable: the client prints `stderr` and exits with `exit_code`.
    Failed { stderr: String, exit_code: i32 },
}

/// Where a solving build writes its stream; a gone client is not an error here (the
/// daemon cancels the build through its token).
#[derive(Clone, Debug)]
pub struct LineSink {
    tx: mpsc::UnboundedSender<StreamLine>,
}

impl LineSink {
    pub fn channel() -> (LineSink, mpsc::UnboundedReceiver<StreamLine>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (LineSink { tx }, rx)
    }

    pub fn event(&self, ev: Event) {
        let _ = self.tx.send(StreamLine::Event(ev));
    }

    /// Where the daemon keeps this build's full step logs.
    pub fn logs(&self, dir: impl Into<String>) {
        let _ = self
            .tx
            .send(StreamLine::Control(Control::Logs { dir: dir.into() }));
    }

    /// A line the in-process command would print on stderr (newline added by the client).
    pub fn stderr(&self, text: impl Into<String>) {
        let _ = self
            .tx
            .send(StreamLine::Control(Control::Stderr { text: text.into() }));
    }
}

#[async_trait]
pub trait BuildBackend: Send + Sync + 'static {
    /// A compiled build waiting for its files.
    type Session: Send + 'static;

    /// Compile the request. Blocking work is fine: the daemon calls this off its reactor.
    fn prepare(&self, req: BuildRequest) -> Result<Prepare<Self::Session>, ErrorBody>;

    /// Solve a prepared build whose local source `context` is the directory `context`
    /// (holding only the selected files), reporting on `sink`. Outputs for the client go
    /// into `outputs` as files named by their index in the request's `outputs`, listed in
    /// the result. Returns the last line: [`Control::Result`] or [`Control::Exit`].
    async fn solve(
        &self,
        session: Self::Session,
        context: PathBuf,
        outputs: PathBuf,
        sink: LineSink,
        cancel: CancellationToken,
    ) -> Control;
}
