//! The HTTP side of `ADD <url>`: one GET (conditional on a remembered ETag), streamed into
//! a temp file in the store while hashing, with what the response says about the file.
//!
//! API (crate-internal): [`fetch`], [`Fetch`], [`Download`].

use std::io::Write;
use std::path::Path;

use sha2::{Digest as _, Sha256};

use super::http::{HttpError, HttpSpec};
use super::http_name::file_name;
use super::LocalWorker;

/// A finished download in a temp file.
pub struct Download {
    pub file: tempfile::NamedTempFile,
    pub digest: String,
    pub size: u64,
    pub filename: String,
    pub last_modified: Option<i64>,
    pub etag: Option<String>,
}

pub enum Fetch {
    NotModified,
    Body(Download),
}

fn client_for(url: &str) -> Result<reqwest::Client, HttpError> {
    // No overall timeout (downloads may be large), but a dead server must not hang the
    // build: connecting and each read are bounded.
    let mut b = reqwest::Client::builder()
        .user_agent(concat!("kiln/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(30))
        .read_timeout(std::time::Duration::from_secs(120));
    // A proxy from the environment must not capture loopback test servers.
    let loopback = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .is_some_and(|h| {
            h == "localhost"
                || h.trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        });
    if loopback {
        b = b.no_proxy();
    }
    b.build().map_err(|e| HttpError::Request {
        url: url.to_string(),
        message: error_chain(&e),
    })
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

pub async fn fetch(
    w: &LocalWorker,
    spec: &HttpSpec<'_>,
    etag: Option<&str>,
) -> Result<Fetch, HttpError> {
    let url = spec.url;
    let req_err = |e: reqwest::Error| HttpError::Request {
        url: url.to_string(),
        message: error_chain(&e),
    };
    let mut req = client_for(url)?.get(url);
    if let Some(t) = etag {
        req = req.header(reqwest::header::IF_NONE_MATCH, t);
    }
    let mut resp = req.send().await.map_err(req_err)?;
    let status = resp.status();
    if status == reqwest::StatusCode::NOT_MODIFIED && etag.is_some() {
        let same = resp
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| etag_value(v) == etag_value(etag.unwrap_or("")));
        if same {
            return Ok(Fetch::NotModified);
        }
        return fetch_plain(w, spec).await;
    }
    if !status.is_success() {
        return Err(HttpError::Status {
            url: url.to_string(),
            status: status.as_u16(),
        });
    }
    let header = |name: reqwest::header::HeaderName| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let last_modified = header(reqwest::header::LAST_MODIFIED)
        .and_then(|v| httpdate::parse_http_date(&v).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64);
    let etag = header(reqwest::header::ETAG).map(|v| etag_value(&v).to_string());
    let disposition = header(reqwest::header::CONTENT_DISPOSITION);
    let filename = file_name(url, spec.filename, disposition.as_deref());
    let dir = w.store.root().join("build-tmp");
    let io = |op: &'static str, path: &Path| {
        let (url, path) = (url.to_string(), path.to_path_buf());
        move |source| HttpError::Io {
            url,
            op,
            path,
            source,
        }
    };
    std::fs::create_dir_all(&dir).map_err(io("creating", &dir))?;
    let mut file = tempfile::Builder::new()
        .prefix("http-")
        .tempfile_in(&dir)
        .map_err(io("creating a temp file in", &dir))?;
    let mut sha = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = resp.chunk().await.map_err(req_err)? {
        sha.update(&chunk);
        size += chunk.len() as u64;
        file.write_all(&chunk).map_err(io("writing", file.path()))?;
    }
    let digest = format!("sha256:{}", hex::encode(sha.finalize()));
    if let Some(expected) = spec.pinned()? {
        if expected != digest {
            return Err(HttpError::ChecksumMismatch {
                url: url.to_string(),
                expected,
                actual: digest,
            });
        }
    }
    tracing::debug!(url, %digest, size, "downloaded");
    Ok(Fetch::Body(Download {
        file,
        digest,
        size,
        filename,
        last_modified,
        etag,
    }))
}

/// A GET without conditions (after a 304 for an ETag we did not ask about).
async fn fetch_plain(w: &LocalWorker, spec: &HttpSpec<'_>) -> Result<Fetch, HttpError> {
    Box::pin(fetch(w, spec, None)).await
}

/// A weak ETag matches its strong form, as BuildKit compares them.
fn etag_value(v: &str) -> &str {
    v.trim().trim_start_matches("W/")
}
