//! The monitor's side of attach: it listens on the container's attach socket, relays each
//! client's input and window sizes to the running container, and sends every client the
//! output as it arrives (and, when asked, what the current run printed before).

use super::{decode, encode, parse_resize, short_path, Hello, Kind, SOCKET};
use crate::config::ContainerConfig;
use kiln_executor::{stdin_stream, OutputLine, Stdin, StdinHandle, Stream};
use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio::task::JoinHandle;

/// Output of the current run kept for clients that ask for a replay.
const REPLAY_MAX: usize = 256 * 1024;

/// Environment variable (`ROWSxCOLS`) through which `start` passes its terminal's size to
/// the monitor.
pub const CONSOLE_SIZE_ENV: &str = "KILN_CONSOLE_SIZE";

/// How long the end of a run waits for clients to take their last output.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Default)]
struct State {
    clients: Vec<UnboundedSender<Vec<u8>>>,
    writers: Vec<JoinHandle<()>>,
    /// Encoded output frames of the current run, oldest first.
    replay: VecDeque<Vec<u8>>,
    replay_bytes: usize,
    stdin: Option<StdinHandle>,
    ended: bool,
    /// The exit code of the run that ended last (sent to clients that come later).
    last_code: Option<i32>,
}

/// End of the run, with its exit code when there is one (4 bytes, big-endian).
fn end_frame(code: Option<i32>) -> Vec<u8> {
    match code {
        Some(c) => encode(Kind::End, &c.to_be_bytes()),
        None => encode(Kind::End, b""),
    }
}

/// The attach endpoint of one container, alive as long as its monitor.
pub struct Hub {
    state: Arc<Mutex<State>>,
    tty: bool,
    /// The terminal size each run starts with (from the starter's terminal).
    console_size: Option<(u16, u16)>,
    path: PathBuf,
    listener: Arc<UnixListener>,
    open_stdin: bool,
    accept: JoinHandle<()>,
    _dir: OwnedFd,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panicked client task must not take the monitor down with it.
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl Hub {
    /// Listens for attach clients when the container is interactive (`-t` or `-i`) or
    /// keeps no log (`--log-driver none`: attaching is then the only way to its output);
    /// needs a tokio runtime context. Failure is logged: the container still runs, detached.
    pub fn bind_for(container_dir: &Path, cfg: &ContainerConfig) -> Option<Hub> {
        if !(cfg.tty || cfg.open_stdin || !cfg.log.driver.keeps_file()) {
            return None;
        }
        match Self::bind(container_dir, cfg.open_stdin, cfg.tty) {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::error!(
                    "attach socket in {}: {e}; the container cannot be attached to",
                    container_dir.display()
                );
                None
            }
        }
    }

    fn bind(dir: &Path, open_stdin: bool, tty: bool) -> std::io::Result<Hub> {
        let path = dir.join(SOCKET);
        // A monitor that died (host crash) leaves its socket file behind.
        let _ = std::fs::remove_file(&path);
        let (dir_fd, short) = short_path(dir)?;
        let listener = UnixListener::bind(&short)?;
        let state = Arc::new(Mutex::new(State {
            ended: true,
            ..State::default()
        }));
        let listener = Arc::new(listener);
        let accept = tokio::spawn(accept_loop(listener.clone(), state.clone(), open_stdin));
        let console_size = std::env::var(CONSOLE_SIZE_ENV).ok().and_then(|v| {
            let (r, c) = v.split_once('x')?;
            Some((r.parse().ok()?, c.parse().ok()?))
        });
        Ok(Hub {
            state,
            listener,
            open_stdin,
            tty,
            console_size,
            path,
            accept,
            _dir: dir_fd,
        })
    }

    /// A new run starts: a fresh stdin for the container, an empty replay buffer.
    pub fn begin_run(&self) -> Stdin {
        let (handle, stdin) = stdin_stream();
        if let (true, Some((rows, cols))) = (self.tty, self.console_size) {
            // Queued before the start: the executor sizes the terminal before the process
            // exists.
            handle.resize(rows, cols);
        }
        let mut st = lock(&self.state);
        st.stdin = Some(handle);
        st.replay.clear();
        st.replay_bytes = 0;
        st.ended = false;
        stdin
    }

    /// Sends a piece of output to every client and keeps it for replays.
    pub fn publish(&self, line: &OutputLine) {
        let mut data = line.line.clone();
        if !line.partial {
            // A terminal's lines end in \r\n already; the framer took the \n.
            data.push(b'\n');
        }
        let kind = match (line.stream, self.tty) {
            (Stream::Stderr, false) => Kind::Stderr,
            _ => Kind::Stdout,
        };
        let frame = encode(kind, &data);
        let mut st = lock(&self.state);
        st.clients.retain(|c| c.send(frame.clone()).is_ok());
        st.replay_bytes += frame.len();
        st.replay.push_back(frame);
        while st.replay_bytes > REPLAY_MAX {
            match st.replay.pop_front() {
                Some(f) => st.replay_bytes -= f.len(),
                None => break,
            }
        }
    }

    /// The run is over (with `code`, when it ran): tell every client, close their
    /// connections once they have their output (bounded wait), and stop taking input.
    pub async fn end_run(&self, code: Option<i32>) {
        let writers = {
            let mut st = lock(&self.state);
            st.ended = true;
            st.stdin = None;
            st.last_code = code;
            let end = end_frame(code);
            for c in st.clients.drain(..) {
                let _ = c.send(end.clone());
            }
            std::mem::take(&mut st.writers)
        };
        let all = futures_join(writers);
        if tokio::time::timeout(FLUSH_TIMEOUT, all).await.is_err() {
            tracing::warn!("an attached client did not take its last output in time");
        }
    }
}

impl Hub {
    /// The monitor is done: new clients find no socket (and fall back to the log), and
    /// the ones already queued get the last run's output and end, so none of them sees a
    /// silent end of stream.
    pub async fn close(self) {
        let _ = std::fs::remove_file(&self.path);
        self.accept.abort();
        let mut served = Vec::new();
        while let Ok(Ok((stream, _))) =
            tokio::time::timeout(Duration::ZERO, self.listener.accept()).await
        {
            served.push(tokio::spawn(serve(
                stream,
                self.state.clone(),
                self.open_stdin,
            )));
        }
        if tokio::time::timeout(FLUSH_TIMEOUT, futures_join(served))
            .await
            .is_err()
        {
            tracing::warn!("a queued attach client did not take the container's end in time");
        }
    }
}

async fn futures_join(handles: Vec<JoinHandle<()>>) {
    for h in handles {
        let _ = h.await;
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.accept.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn accept_loop(listener: Arc<UnixListener>, state: Arc<Mutex<State>>, open_stdin: bool) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve(stream, state.clone(), open_stdin));
            }
            Err(e) => {
                tracing::warn!("accepting an attach client: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// One client: its hello, then its input until it goes away.
async fn serve(stream: UnixStream, state: Arc<Mutex<State>>, open_stdin: bool) {
    let (mut rd, mut wr) = stream.into_split();
    let mut buf = Vec::new();
    let mut pending = VecDeque::new();
    let hello: Hello = loop {
        let mut chunk = [0u8; 4096];
        match rd.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        match decode(&mut buf) {
            Ok(frames) => pending.extend(frames),
            Err(e) => {
                tracing::warn!("attach client: {e}");
                return;
            }
        }
        if let Some((kind, payload)) = pending.pop_front() {
            if kind != Kind::Hello {
                tracing::warn!("attach client did not start with a hello");
                return;
            }
            match serde_json::from_slice(&payload) {
                Ok(h) => break h,
                Err(e) => {
                    tracing::warn!("attach client hello: {e}");
                    return;
                }
            }
        }
    };
    let (tx, mut rx) = unbounded_channel::<Vec<u8>>();
    let writer = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            if wr.write_all(&frame).await.is_err() {
                return;
            }
        }
        let _ = wr.shutdown().await;
    });
    {
        // Under the lock: no output is missed or doubled between the replay and the
        // live stream.
        let mut st = lock(&state);
        if hello.replay {
            for f in &st.replay {
                let _ = tx.send(f.clone());
            }
        }
        if st.ended {
            let _ = tx.send(end_frame(st.last_code));
        } else {
            st.clients.push(tx);
            st.writers.push(writer);
        }
    }
    let mut stdin_closed = false;
    loop {
        while let Some((kind, payload)) = pending.pop_front() {
            let st = lock(&state);
            let Some(handle) = st.stdin.as_ref() else {
                continue;
            };
            match kind {
                Kind::Stdin if hello.stdin && open_stdin && !stdin_closed => {
                    handle.write(payload);
                }
                Kind::Resize => {
                    if let Some((rows, cols)) = parse_resize(&payload) {
                        handle.resize(rows, cols);
                    }
                }
                Kind::CloseStdin if hello.stdin && open_stdin => {
                    stdin_closed = true;
                    handle.close();
                }
                _ => {}
            }
        }
        let mut chunk = [0u8; 16 * 1024];
        match rd.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        match decode(&mut buf) {
            Ok(frames) => pending.extend(frames),
            Err(e) => {
                tracing::warn!("attach client: {e}");
                return;
            }
        }
    }
}
