//! `POST /v1/builds` (compile, answer which files to send) and
//! `POST /v1/builds/{id}/solve` (receive exactly those files as a tar, solve, stream NDJSON).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::Json;
use futures::TryStreamExt;

use crate::api::{BuildRequest, Control, ErrorBody, Prepared, StreamLine};
use crate::backend::{BuildBackend, LineSink, Prepare};
use crate::routes::ApiError;
use crate::server::Shared;

/// A prepared build not solved within this long is dropped (its client went away).
const SESSION_TTL: Duration = Duration::from_secs(600);

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorBody::new(format!("internal error: {e}")),
    )
}

pub(crate) async fn prepare<B: BuildBackend>(
    State(s): State<Arc<Shared<B>>>,
    Json(req): Json<BuildRequest>,
) -> Result<Json<Prepared>, ApiError> {
    if s.work.is_cancelled() {
        return Err(ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorBody::new("the daemon is shutting down; retry when it is back"),
        ));
    }
    let backend = s.backend.clone();
    let outcome = tokio::task::spawn_blocking(move || backend.prepare(req))
        .await
        .map_err(internal)?
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e))?;
    Ok(Json(match outcome {
        Prepare::Failed { stderr, exit_code } => Prepared::Failed { stderr, exit_code },
        Prepare::Ready {
            session,
            warnings,
            sources,
        } => {
            let id = format!(
                "b{}-{}",
                s.next_id.fetch_add(1, Ordering::Relaxed),
                std::process::id()
            );
            let mut sessions = s.sessions.lock().unwrap_or_else(|p| p.into_inner());
            sessions.retain(|_, (_, at)| at.elapsed() < SESSION_TTL);
            sessions.insert(id.clone(), (session, Instant::now()));
            Prepared::Ready {
                id,
                warnings,
                sources,
            }
        }
    }))
}

/// Unpack the uploaded tar into `dir`: only what the client selected, ownership and modes
/// kept (they are part of the files' checksums), nothing outside `dir`.
fn unpack(body: Body, dir: std::path::PathBuf) -> Result<(), std::io::Error> {
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let reader = tokio_util::io::StreamReader::new(stream);
    let bridge = tokio_util::io::SyncIoBridge::new(reader);
    let mut archive = tar::Archive::new(bridge);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    archive.unpack(&dir)
}

pub(crate) async fn solve<B: BuildBackend>(
    State(s): State<Arc<Shared<B>>>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let session = s
        .sessions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&id)
        .map(|(session, _)| session)
        .ok_or_else(|| {
            ApiError(
                StatusCode::NOT_FOUND,
                ErrorBody::new(format!(
                    "no prepared build {id:?}: it was already started, expired, or the daemon restarted; run the build again"
                )),
            )
        })?;
    let shared = s.clone();
    let out_id = id.clone();
    let (slot, outputs) = tokio::task::spawn_blocking(move || {
        let slot = shared.slots.acquire()?;
        let outputs = shared.outputs.create(&out_id)?;
        unpack(body, slot.path().to_path_buf()).map(|_| (slot, outputs))
    })
    .await
    .map_err(internal)?
    .map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            ErrorBody::new(format!("receiving the build context: {e}")),
        )
    })?;
    s.metrics.builds_running.fetch_add(1, Ordering::Relaxed);
    let (sink, mut lines) = LineSink::channel();
    let (body_tx, body_rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(256);
    let (drained_tx, drained) = tokio::sync::oneshot::channel::<()>();
    let cancel = s.work.child_token();
    let started = Instant::now();
    let build = {
        let s = s.clone();
        let cancel = cancel.clone();
        let context = slot.path().to_path_buf();
        tokio::spawn(async move {
            let dir = outputs.clone();
            let last = s
                .backend
                .solve(session, context, outputs, sink, cancel)
                .await;
            drop(slot);
            // A build without outputs for its client leaves no directory behind.
            crate::outputs::remove_if_empty(&dir);
            last
        })
    };
    // Relay: count steps for the metrics, write lines, and cancel the build if the
    // client hangs up (as BuildKit does when its client goes away).
    let relay_shared = s.clone();
    tokio::spawn(async move {
        let s = relay_shared;
        loop {
            tokio::select! {
                line = lines.recv() => {
                    let Some(line) = line else { break };
                    if let StreamLine::Event(ev) = &line {
                        s.metrics.observe(ev);
                    }
                    if !send_line(&body_tx, &line).await {
                        cancel.cancel();
                    }
                }
                _ = body_tx.closed(), if !cancel.is_cancelled() => {
                    tracing::info!("build {id}: the client went away; cancelling");
                    cancel.cancel();
                }
            }
        }
        let last = match build.await {
            Ok(c) => c,
            Err(e) => Control::Exit {
                exit_code: 125,
                error: Some(ErrorBody::new(format!(
                    "internal error: the build task failed: {e}"
                ))),
            },
        };
        let ok = matches!(last, Control::Result { .. });
        s.metrics
            .build_finished(ok, started.elapsed().as_secs_f64());
        send_line(&body_tx, &StreamLine::Control(last)).await;
        // The build counts as running until its client has the last line: a shutdown
        // waits for that.
        drop(body_tx);
        let _ = tokio::time::timeout(Duration::from_secs(5), drained).await;
        s.metrics.builds_running.fetch_sub(1, Ordering::Relaxed);
    });
    let stream =
        futures::stream::unfold((body_rx, Some(drained_tx)), |(mut rx, done)| async move {
            match rx.recv().await {
                Some(item) => Some((item, (rx, done))),
                None => {
                    if let Some(d) = done {
                        let _ = d.send(());
                    }
                    None
                }
            }
        });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .body(Body::from_stream(stream))
        .map_err(internal)
}

async fn send_line(
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    line: &StreamLine,
) -> bool {
    let mut bytes = match serde_json::to_vec(line) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!("serialising a stream line: {e}");
            return true;
        }
    };
    bytes.push(b'\n');
    tx.send(Ok(Bytes::from(bytes))).await.is_ok()
}
