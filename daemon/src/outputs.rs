//! Build outputs waiting for their client: a build's local, tar, oci and docker outputs
//! are written as files under `ROOT/daemon/outputs/<build>/<n>` and streamed to the client
//! by `GET /v1/builds/{id}/outputs/{n}`, which writes them at its own `dest`. A file is
//! unlinked as soon as it is opened for its client (the open handle keeps it readable), and
//! directories nobody fetched are swept after [`KEEP`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, StatusCode};
use axum::response::Response;

use crate::api::ErrorBody;
use crate::backend::BuildBackend;
use crate::routes::ApiError;
use crate::server::Shared;

/// Outputs not fetched within this long are removed (their client went away).
const KEEP: Duration = Duration::from_secs(600);

/// The per-build output directories under one base.
#[derive(Debug)]
pub struct OutputDirs {
    base: PathBuf,
}

impl OutputDirs {
    pub fn new(base: PathBuf) -> OutputDirs {
        OutputDirs { base }
    }

    /// Remove everything: outputs of a previous daemon's builds have no client any more.
    pub fn reset(&self) {
        if let Err(e) = std::fs::remove_dir_all(&self.base) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("clearing {}: {e}", self.base.display());
            }
        }
    }

    /// The (new, empty) directory build `id` writes its outputs into; stale ones of builds
    /// whose clients never fetched them are swept first.
    pub fn create(&self, id: &str) -> std::io::Result<PathBuf> {
        self.sweep();
        let dir = self.base.join(id);
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// The file of output `n` of build `id`, if the id is one this daemon makes.
    fn file(&self, id: &str, n: usize) -> Option<PathBuf> {
        let ok = !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        ok.then(|| self.base.join(id).join(n.to_string()))
    }

    fn sweep(&self) {
        let Ok(entries) = std::fs::read_dir(&self.base) else {
            return;
        };
        for e in entries.flatten() {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > KEEP);
            if old {
                tracing::info!("removing unfetched build outputs {}", e.path().display());
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// Remove `dir` when nothing is left in it (the last output was fetched).
pub(crate) fn remove_if_empty(dir: &Path) {
    if std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none()) {
        let _ = std::fs::remove_dir(dir);
    }
}

/// `GET /v1/builds/{id}/outputs/{n}`: the bytes of output `n` (a tar of the filesystem for
/// `local` and `tar` outputs, the archive for `oci` and `docker`), once.
pub(crate) async fn fetch<B: BuildBackend>(
    State(s): State<Arc<Shared<B>>>,
    UrlPath((id, n)): UrlPath<(String, usize)>,
) -> Result<Response, ApiError> {
    let missing = || {
        ApiError(
            StatusCode::NOT_FOUND,
            ErrorBody::new(format!(
                "build {id:?} has no output {n} waiting: it was fetched already, the build wrote none, or it expired; run the build again"
            )),
        )
    };
    let path = s.outputs.file(&id, n).ok_or_else(missing)?;
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing()),
        Err(e) => {
            return Err(ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorBody::new(format!("opening the build output {}: {e}", path.display())),
            ))
        }
    };
    let len = file.metadata().await.map(|m| m.len()).ok();
    // Served once: the open handle keeps the data until the stream ends.
    let _ = std::fs::remove_file(&path);
    if let Some(dir) = path.parent() {
        remove_if_empty(dir);
    }
    let mut resp = Response::builder().header(header::CONTENT_TYPE, "application/octet-stream");
    if let Some(len) = len {
        resp = resp.header(header::CONTENT_LENGTH, len);
    }
    resp.body(Body::from_stream(tokio_util::io::ReaderStream::new(file)))
        .map_err(|e| {
            ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorBody::new(format!("internal error: {e}")),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_and_stale_dirs_swept() {
        let d = tempfile::tempdir().unwrap();
        let dirs = OutputDirs::new(d.path().join("outputs"));
        assert!(dirs.file("../etc", 0).is_none());
        assert!(dirs.file("", 0).is_none());
        assert_eq!(
            dirs.file("b1-42", 3).unwrap(),
            d.path().join("outputs/b1-42/3")
        );
        let a = dirs.create("b1-1").unwrap();
        std::fs::write(a.join("0"), "x").unwrap();
        // Not old: survives the sweep that creating another build's directory does.
        dirs.create("b2-1").unwrap();
        assert!(a.join("0").exists());
        remove_if_empty(&a);
        assert!(a.exists(), "a directory with a file is kept");
        std::fs::remove_file(a.join("0")).unwrap();
        remove_if_empty(&a);
        assert!(!a.exists());
        dirs.reset();
        assert!(!d.path().join("outputs").exists());
    }
}
