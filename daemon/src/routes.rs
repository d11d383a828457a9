//! The API's routes (docs/API.md) and the small ones: ping, info, metrics.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::api::{ErrorBody, GcPolicyInfo, Info, Ping, API_VERSION};
use crate::backend::BuildBackend;
use crate::metrics::Metrics;
use crate::server::Shared;

/// An error answer: a status and the JSON [`ErrorBody`].
pub(crate) struct ApiError(pub StatusCode, pub ErrorBody);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

pub(crate) fn router<B: BuildBackend>(shared: Arc<Shared<B>>) -> Router {
    Router::new()
        .route("/v1/_ping", get(ping::<B>))
        .route("/v1/version", get(ping::<B>))
        .route("/v1/info", get(info::<B>))
        .route("/v1/metrics", get(metrics::<B>))
        .route("/metrics", get(metrics::<B>))
        .route("/v1/builds", post(crate::build_routes::prepare::<B>))
        .route(
            "/v1/builds/{id}/solve",
            post(crate::build_routes::solve::<B>),
        )
        .route(
            "/v1/builds/{id}/outputs/{n}",
            get(crate::outputs::fetch::<B>),
        )
        .route("/v1/commands", post(crate::command::command::<B>))
        .fallback(not_found)
        .with_state(shared)
}

/// The router of the optional separate metrics address: `/metrics` only.
pub(crate) fn metrics_router<B: BuildBackend>(shared: Arc<Shared<B>>) -> Router {
    Router::new()
        .route("/metrics", get(metrics::<B>))
        .with_state(shared)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        ErrorBody::new(format!(
            "no route {uri} in API {API_VERSION}; see docs/API.md (is the client newer than the daemon?)"
        )),
    )
}

async fn ping<B: BuildBackend>(State(s): State<Arc<Shared<B>>>) -> Json<Ping> {
    Json(Ping {
        api_version: API_VERSION.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        root: s.root.display().to_string(),
        pid: std::process::id(),
    })
}

/// Measure the store (blocking: it walks blobs and snapshots) and remember the figure.
pub(crate) async fn store_size<B: BuildBackend>(s: &Arc<Shared<B>>) -> u64 {
    let store = s.store.clone();
    let size = tokio::task::spawn_blocking(move || {
        store
            .disk_usage()
            .map(|rows| rows.iter().map(|r| r.size).sum::<u64>())
    })
    .await;
    match size {
        Ok(Ok(n)) => {
            s.metrics
                .store_size_bytes
                .store(n, std::sync::atomic::Ordering::Relaxed);
            n
        }
        Ok(Err(e)) => {
            tracing::warn!("measuring the store: {e}");
            Metrics::get(&s.metrics.store_size_bytes)
        }
        Err(e) => {
            tracing::warn!("measuring the store: {e}");
            Metrics::get(&s.metrics.store_size_bytes)
        }
    }
}

async fn info<B: BuildBackend>(State(s): State<Arc<Shared<B>>>) -> Json<Info> {
    let size = store_size(&s).await;
    let store = s.store.clone();
    let counts = tokio::task::spawn_blocking(move || {
        let images = store.list_images().map(|v| v.len() as u64);
        let records = store.list_cache_records().map(|v| v.len() as u64);
        (images.unwrap_or(0), records.unwrap_or(0))
    })
    .await
    .unwrap_or((0, 0));
    let m = &s.metrics;
    let gc = s.config().gc;
    Json(Info {
        version: env!("CARGO_PKG_VERSION").into(),
        api_version: API_VERSION.into(),
        root: s.root.display().to_string(),
        pid: std::process::id(),
        uptime_seconds: s.started.elapsed().as_secs(),
        builds_running: Metrics::get(&m.builds_running),
        builds_total: Metrics::get(&m.builds_succeeded) + Metrics::get(&m.builds_failed),
        steps_executed: Metrics::get(&m.steps_executed),
        steps_cached: Metrics::get(&m.steps_cached),
        steps_shared: Metrics::get(&m.steps_shared),
        store_size_bytes: size,
        images: counts.0,
        cache_records: counts.1,
        gc: GcPolicyInfo {
            keep_storage_bytes: gc.keep_storage,
            keep_duration_seconds: gc.keep_duration.map(|d| d.as_secs()),
            images_keep_duration_seconds: gc.images_keep_duration.map(|d| d.as_secs()),
            cache_mounts_keep_storage_bytes: gc.cache_mounts_keep_storage,
            interval_seconds: gc.interval.as_secs(),
        },
    })
}

async fn metrics<B: BuildBackend>(State(s): State<Arc<Shared<B>>>) -> Response {
    store_size(&s).await;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(),
    )
        .into_response()
}
