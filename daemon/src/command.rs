//! `POST /v1/commands`: a kiln command line run on the daemon's store, over an upgraded
//! connection carrying stdin, stdout, stderr and the exit code as frames (`frames.rs`).
//! The daemon runs the command as its own kiln binary with its root and token, so the
//! output and exit codes are exactly the in-process command's.

use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::api::{CommandRequest, ErrorBody};
use crate::backend::BuildBackend;
use crate::frames::{read_frame, write_frame, Kind};
use crate::lock::TOKEN_ENV;
use crate::pty::{Pty, TtySize};
use crate::routes::ApiError;
use crate::server::Shared;

/// The `Upgrade` protocol name of a command session.
pub const UPGRADE_PROTOCOL: &str = "kiln-stream";

/// Environment a client must not choose for the daemon's command: what picks a daemon,
/// a store, or the daemon's token.
pub fn is_private_env(name: &str) -> bool {
    matches!(name, "KILN_HOST" | "KILN_ROOT" | TOKEN_ENV) || name.starts_with("KILN_TLS")
}

pub(crate) async fn command<B: BuildBackend>(
    State(s): State<Arc<Shared<B>>>,
    mut req: Request,
) -> Result<Response, ApiError> {
    let wants = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case(UPGRADE_PROTOCOL));
    if !wants {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            ErrorBody::new(format!(
                "POST /v1/commands needs `Connection: Upgrade` and `Upgrade: {UPGRADE_PROTOCOL}`"
            )),
        ));
    }
    if s.work.is_cancelled() {
        return Err(ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorBody::new("the daemon is shutting down; retry when it is back"),
        ));
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(up) => {
                s.commands_running.fetch_add(1, Ordering::Relaxed);
                s.metrics.commands.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = session(&s, TokioIo::new(up)).await {
                    tracing::info!("command session: {e}");
                }
                s.commands_running.fetch_sub(1, Ordering::Relaxed);
            }
            Err(e) => tracing::warn!("upgrading a command connection: {e}"),
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, UPGRADE_PROTOCOL)
        .body(Body::empty())
        .map_err(|e| {
            ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorBody::new(e.to_string()),
            )
        })
}

type Io = TokioIo<hyper::upgrade::Upgraded>;

async fn session<B: BuildBackend>(s: &Shared<B>, io: Io) -> Result<(), crate::frames::FrameError> {
    let (mut rd, mut wr) = tokio::io::split(io);
    let request = match read_frame(&mut rd).await? {
        Some((Kind::Request, payload)) => serde_json::from_slice::<CommandRequest>(&payload),
        _ => {
            let body = ErrorBody::new("the command stream must start with a request frame");
            write_error(&mut wr, &body).await?;
            return Ok(());
        }
    };
    let request = match request {
        Ok(r) => r,
        Err(e) => {
            write_error(
                &mut wr,
                &ErrorBody::new(format!("bad command request: {e}")),
            )
            .await?;
            return Ok(());
        }
    };
    let mut cmd = tokio::process::Command::new(&s.exe);
    cmd.args(&request.args)
        .env_clear()
        .envs(
            request
                .env
                .iter()
                .filter(|(k, _)| !is_private_env(k))
                .cloned(),
        )
        .env("KILN_ROOT", &s.root)
        .env(TOKEN_ENV, &s.token);
    // The client's directory, so relative paths mean what they meant to it; a remote
    // client's may not exist here.
    if std::path::Path::new(&request.cwd).is_dir() {
        cmd.current_dir(&request.cwd);
    } else {
        cmd.current_dir("/");
    }
    let pty = match request.tty {
        Some(size) => match Pty::attach(&mut cmd, size) {
            Ok(p) => Some(Arc::new(p)),
            Err(e) => {
                let body = ErrorBody::new(format!("opening a terminal for the command: {e}"));
                write_error(&mut wr, &body).await?;
                return Ok(());
            }
        },
        None => {
            cmd.stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            None
        }
    };
    let spawned = cmd.spawn();
    // Our copies of the terminal's slave side must go, or its reader never ends.
    drop(cmd);
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let body = ErrorBody::new(format!("starting {}: {e}", s.exe.display()));
            write_error(&mut wr, &body).await?;
            return Ok(());
        }
    };
    tracing::debug!(args = ?request.args, "forwarded command started");
    let (out_tx, mut out_rx) = mpsc::channel::<(Kind, Vec<u8>)>(64);
    let pumps = [
        child
            .stdout
            .take()
            .map(|o| tokio::spawn(pump(o, Kind::Stdout, out_tx.clone()))),
        child
            .stderr
            .take()
            .map(|e| tokio::spawn(pump(e, Kind::Stderr, out_tx.clone()))),
        pty.as_ref().and_then(|p| terminal_pump(p, out_tx.clone())),
    ];
    drop(out_tx);
    let mut stdin = match &pty {
        Some(p) => p.writer().ok().map(Input::Tty),
        None => child.stdin.take().map(Input::Pipe),
    };
    let resize_to = pty.clone();
    let pid = child.id();
    let writer = tokio::spawn(async move {
        while let Some((kind, data)) = out_rx.recv().await {
            if write_frame(&mut wr, kind, &data).await.is_err() {
                break;
            }
        }
        wr
    });
    // stdin and hang-ups: the client's frames until its end; a client that goes away, or
    // a daemon that stops waiting, stops the command as Ctrl-C would have.
    let cancel = s.work.clone();
    let input = tokio::spawn(async move {
        loop {
            let frame = tokio::select! {
                f = read_frame(&mut rd) => f,
                _ = cancel.cancelled() => Ok(None),
            };
            match frame {
                Ok(Some((Kind::Stdin, data))) => {
                    let written = match stdin.as_mut() {
                        Some(Input::Pipe(w)) => w.write_all(&data).await.is_ok(),
                        Some(Input::Tty(w)) => w.send(data).is_ok(),
                        None => true,
                    };
                    if !written {
                        stdin = None;
                    }
                }
                // A terminal has no end of input; ^D arrives as a byte.
                Ok(Some((Kind::StdinEnd, _))) if resize_to.is_none() => stdin = None,
                Ok(Some((Kind::Resize, data))) => {
                    if let (Some(p), Some(size)) = (&resize_to, TtySize::from_bytes(&data)) {
                        p.resize(size);
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => {
                    if let Some(p) = pid {
                        tracing::info!("command client went away; stopping pid {p}");
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(p as i32),
                            nix::sys::signal::Signal::SIGTERM,
                        );
                    }
                    return;
                }
            }
        }
    });
    let status = child.wait().await;
    for p in pumps.into_iter().flatten() {
        // A terminal stays open while anything the command started holds it; do not
        // wait for those beyond a moment.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), p).await;
    }
    drop(pty);
    input.abort();
    let mut wr = match writer.await {
        Ok(w) => w,
        Err(_) => return Ok(()),
    };
    let code = match status {
        Ok(st) => exit_code(st),
        Err(e) => {
            write_error(
                &mut wr,
                &ErrorBody::new(format!("waiting for the command: {e}")),
            )
            .await?;
            return Ok(());
        }
    };
    write_frame(&mut wr, Kind::Exit, &code.to_be_bytes()).await?;
    let _ = wr.shutdown().await;
    Ok(())
}

/// As a shell reports it: the exit status, or 128 + the signal that ended the process.
fn exit_code(st: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    st.code()
        .or_else(|| st.signal().map(|s| 128 + s))
        .unwrap_or(125)
}

/// Where the client's stdin goes.
enum Input {
    Pipe(tokio::process::ChildStdin),
    Tty(std::sync::mpsc::Sender<Vec<u8>>),
}

/// The terminal's output as stdout frames (a terminal merges stdout and stderr).
fn terminal_pump(
    pty: &Pty,
    out: mpsc::Sender<(Kind, Vec<u8>)>,
) -> Option<tokio::task::JoinHandle<()>> {
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(16);
    if let Err(e) = pty.read_to(tx) {
        tracing::warn!("reading a command's terminal: {e}");
        return None;
    }
    Some(tokio::spawn(async move {
        while let Some(data) = rx.recv().await {
            if out.send((Kind::Stdout, data)).await.is_err() {
                return;
            }
        }
    }))
}

async fn pump(mut r: impl AsyncRead + Unpin, kind: Kind, tx: mpsc::Sender<(Kind, Vec<u8>)>) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if tx.send((kind, buf[..n].to_vec())).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn write_error(
    wr: &mut (impl tokio::io::AsyncWrite + Unpin),
    body: &ErrorBody,
) -> Result<(), crate::frames::FrameError> {
    let json = serde_json::to_vec(body).unwrap_or_default();
    write_frame(wr, Kind::Error, &json).await
}
