//! `ADD https://…`: downloading a file into a one-layer chain, as BuildKit's http source
//! does. The file is named by the op's filename, else the response's Content-Disposition,
//! else the URL's last path segment; its mode is `chmod` (default 0600), its mtime the
//! response's Last-Modified (else the epoch).
//!
//! Cache: with `--checksum` the key is that checksum, so a cached build never touches the
//! network. Without it the key is the downloaded content's digest (plus name, mode, owner
//! and Last-Modified); the previous download's ETag is kept per URL and sent as
//! `If-None-Match`, so an unchanged file answers 304 and nothing is downloaded again.
//!
//! API (crate-internal): [`key`], [`run`], [`HttpSpec`], [`HttpError`]; the download is in
//! `http_fetch.rs`, the file naming in `http_name.rs`.

use std::io::Write;
use std::path::{Path, PathBuf};

use kiln_cache::layer::{Entry, EntryKind};
use kiln_frontend::graph::{Owner, Source, Vertex};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::chain::{Chain, Layer};
use super::fetched::{single_layer, RemoteError};
use super::http_fetch::{fetch, Download, Fetch};
use super::http_name::file_name;
use super::memo_prune::HTTP_MEMOS;
use super::{blocking, LocalWorker};
use crate::progress::Stream;
use crate::worker::StepContext;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("ADD {url}: {message}; check that the server is reachable")]
    Request { url: String, message: String },
    #[error("ADD {url}: the server answered {status}; check the URL")]
    Status { url: String, status: u16 },
    #[error("ADD {url}: checksum mismatch: expected {expected}, but the downloaded file is {actual}; fix --checksum or the URL")]
    ChecksumMismatch {
        url: String,
        expected: String,
        actual: String,
    },
    #[error("ADD --checksum={value} for {url}: expected sha256:<64 hex digits>")]
    BadChecksum { url: String, value: String },
    #[error("ADD {url}: --chown={owner} must be numeric (uid[:gid]) for a URL source")]
    Owner { url: String, owner: String },
    #[error("ADD {url}: {op} {path}: {source}")]
    Io {
        url: String,
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("ADD {url}: {source}")]
    Remote {
        url: String,
        #[source]
        source: RemoteError,
    },
}

/// What an Http op asks for, borrowed from the graph.
pub struct HttpSpec<'a> {
    pub url: &'a str,
    pub checksum: Option<&'a str>,
    pub filename: Option<&'a str>,
    pub chmod: Option<u32>,
    pub chown: Option<&'a Owner>,
}

impl<'a> HttpSpec<'a> {
    /// The spec of an `Http` source; `None` for any other kind of source. Cache key and
    /// run both build it here, so they can never read the op differently.
    pub(super) fn of(source: &'a Source) -> Option<Self> {
        let Source::Http {
            url,
            checksum,
            filename,
            chmod,
            chown,
        } = source
        else {
            return None;
        };
        Some(HttpSpec {
            url,
            checksum: checksum.as_deref(),
            filename: filename.as_deref(),
            chmod: *chmod,
            chown: chown.as_ref(),
        })
    }

    pub(super) fn perm(&self) -> u32 {
        self.chmod.unwrap_or(0o600)
    }

    pub(super) fn ids(&self) -> Result<(u64, u64), HttpError> {
        let Some(o) = self.chown else {
            return Ok((0, 0));
        };
        let bad = || HttpError::Owner {
            url: self.url.to_string(),
            owner: match &o.group {
                Some(g) => format!("{}:{g}", o.user),
                None => o.user.clone(),
            },
        };
        let uid: u64 = o.user.parse().map_err(|_| bad())?;
        let gid: u64 = match &o.group {
            Some(g) => g.parse().map_err(|_| bad())?,
            None => uid,
        };
        Ok((uid, gid))
    }

    /// The pinned checksum, validated.
    pub(super) fn pinned(&self) -> Result<Option<String>, HttpError> {
        let Some(sum) = self.checksum else {
            return Ok(None);
        };
        let hex = sum.strip_prefix("sha256:").unwrap_or("");
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(HttpError::BadChecksum {
                url: self.url.to_string(),
                value: sum.to_string(),
            });
        }
        Ok(Some(format!("sha256:{}", hex.to_ascii_lowercase())))
    }
}

/// The cache key's content part, in the spirit of BuildKit's: what the resulting file is.
#[derive(Serialize)]
struct KeyDoc<'a> {
    filename: &'a str,
    perm: u32,
    uid: u64,
    gid: u64,
    checksum: &'a str,
    last_modified: Option<i64>,
}

/// What is remembered about the last download of a URL, for `If-None-Match`.
#[derive(Serialize, Deserialize)]
struct Remembered {
    etag: String,
    digest: String,
    filename: String,
    last_modified: Option<i64>,
    layer: Layer,
}

fn key_string(spec: &HttpSpec<'_>, filename: &str, checksum: &str, mtime: Option<i64>) -> String {
    let (uid, gid) = spec.ids().unwrap_or((0, 0));
    serde_json::to_string(&KeyDoc {
        filename,
        perm: spec.perm(),
        uid,
        gid,
        checksum,
        last_modified: mtime,
    })
    .unwrap_or_else(|_| format!("{filename}\0{checksum}"))
}

/// The content part of the cache key of an Http vertex; may download the file (kept for
/// [`run`]).
pub async fn key(
    w: &LocalWorker,
    vertex: &Vertex,
    spec: &HttpSpec<'_>,
) -> Result<String, HttpError> {
    spec.ids()?;
    if let Some(sum) = spec.pinned()? {
        let name = file_name(spec.url, spec.filename, None);
        return Ok(key_string(spec, &name, &sum, None));
    }
    let memo_path = memo_path(w, spec);
    let memo: Option<Remembered> = std::fs::read(&memo_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(|m: &Remembered| w.store.content().exists(&m.layer.blob));
    let etag = memo.as_ref().map(|m| m.etag.as_str());
    let fetched = match fetch(w, spec, etag).await? {
        // Unchanged on the server: reuse the last download if GC has not taken it since.
        Fetch::NotModified => match memo {
            Some(m) if reuse(w, vertex, spec.url, &m)? => {
                tracing::debug!(url = spec.url, etag = %m.etag, "not modified; reusing the last download");
                return Ok(key_string(spec, &m.filename, &m.digest, m.last_modified));
            }
            _ => fetch(w, spec, None).await?,
        },
        body => body,
    };
    match fetched {
        Fetch::NotModified => Err(HttpError::Request {
            url: spec.url.to_string(),
            message: "the server answered 304 Not Modified to a request without If-None-Match"
                .into(),
        }),
        Fetch::Body(d) => {
            let chain = to_chain(w, spec, &d)?;
            if let (Some(etag), Some(layer)) = (&d.etag, chain.layers.first()) {
                let m = Remembered {
                    etag: etag.clone(),
                    digest: d.digest.clone(),
                    filename: d.filename.clone(),
                    last_modified: d.last_modified,
                    layer: layer.clone(),
                };
                if let Err(e) = remember(&memo_path, &m) {
                    // Only an optimisation: the next build downloads again.
                    tracing::warn!("remembering the ETag of {}: {e}", spec.url);
                }
            }
            w.fetched.put(&vertex.digest, chain);
            Ok(key_string(spec, &d.filename, &d.digest, d.last_modified))
        }
    }
}

/// Lease the remembered download's layer for this build and keep it for `run`; false when
/// its blob is gone (checked under the write guard, so GC cannot take it in between).
fn reuse(w: &LocalWorker, vertex: &Vertex, url: &str, m: &Remembered) -> Result<bool, HttpError> {
    let fail = |message: String| HttpError::Request {
        url: url.to_string(),
        message,
    };
    let _guard = w.store.write_guard().map_err(|e| fail(e.to_string()))?;
    if !w.store.content().exists(&m.layer.blob) {
        return Ok(false);
    }
    let chain = Chain {
        layers: vec![m.layer.clone()],
    };
    w.hold(&chain, None).map_err(|e| fail(e.message))?;
    w.fetched.put(&vertex.digest, chain);
    Ok(true)
}

/// The one-layer chain holding the downloaded file.
pub async fn run(
    w: &LocalWorker,
    vertex: &Vertex,
    spec: &HttpSpec<'_>,
    ctx: &StepContext,
) -> Result<Chain, HttpError> {
    if let Some(c) = w.fetched.take(&vertex.digest) {
        ctx.log(
            Stream::Stdout,
            format!("{}: downloaded while computing the cache key\n", spec.url).as_bytes(),
        );
        return Ok(c);
    }
    match fetch(w, spec, None).await? {
        Fetch::Body(d) => {
            ctx.log(
                Stream::Stdout,
                format!(
                    "{}: {} bytes, {} -> {}\n",
                    spec.url, d.size, d.digest, d.filename
                )
                .as_bytes(),
            );
            to_chain(w, spec, &d)
        }
        Fetch::NotModified => Err(HttpError::Request {
            url: spec.url.to_string(),
            message: "the server answered 304 Not Modified to a request without If-None-Match"
                .into(),
        }),
    }
}

fn memo_path(w: &LocalWorker, spec: &HttpSpec<'_>) -> PathBuf {
    let (uid, gid) = spec.ids().unwrap_or((0, 0));
    let id = format!(
        "{}\0{}\0{:o}\0{uid}\0{gid}",
        spec.url,
        spec.filename.unwrap_or(""),
        spec.perm()
    );
    w.store.root().join(HTTP_MEMOS).join(format!(
        "{}.json",
        hex::encode(Sha256::digest(id.as_bytes()))
    ))
}

fn remember(path: &Path, m: &Remembered) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(&serde_json::to_vec(m).map_err(std::io::Error::other)?)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

fn to_chain(w: &LocalWorker, spec: &HttpSpec<'_>, d: &Download) -> Result<Chain, HttpError> {
    let (uid, gid) = spec.ids()?;
    let entry = Entry {
        path: PathBuf::from(&d.filename),
        kind: EntryKind::File,
        mode: spec.perm(),
        uid,
        gid,
        // BuildKit: Last-Modified, else the Unix epoch.
        mtime: d.last_modified.unwrap_or(0),
        size: d.size,
        xattrs: Vec::new(),
        source: Some(d.file.path().to_path_buf()),
    };
    blocking(|| single_layer(&w.store, w.lease.as_ref(), &[entry])).map_err(|source| {
        HttpError::Remote {
            url: spec.url.to_string(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_and_owners_are_validated() {
        let owner = Owner {
            user: "app".into(),
            group: None,
        };
        let spec = HttpSpec {
            url: "http://h/f",
            checksum: Some("sha256:abc"),
            filename: None,
            chmod: None,
            chown: Some(&owner),
        };
        assert!(matches!(spec.pinned(), Err(HttpError::BadChecksum { .. })));
        assert!(matches!(spec.ids(), Err(HttpError::Owner { .. })));
        let numeric = Owner {
            user: "10".into(),
            group: Some("20".into()),
        };
        let ok = HttpSpec {
            checksum: Some(
                "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            ),
            chown: Some(&numeric),
            ..spec
        };
        assert_eq!(ok.ids().unwrap(), (10, 20));
        assert_eq!(
            ok.pinned().unwrap().unwrap(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(ok.perm(), 0o600);
    }

    #[test]
    fn spec_reads_every_field_of_an_http_source() {
        let source = Source::Http {
            url: "http://h/f".into(),
            checksum: Some("sha256:abc".into()),
            filename: Some("out.bin".into()),
            chmod: Some(0o755),
            chown: Some(Owner {
                user: "1".into(),
                group: Some("2".into()),
            }),
        };
        let spec = HttpSpec::of(&source).unwrap();
        assert_eq!(
            (spec.url, spec.checksum, spec.filename, spec.chmod),
            (
                "http://h/f",
                Some("sha256:abc"),
                Some("out.bin"),
                Some(0o755)
            )
        );
        assert_eq!(spec.ids().unwrap(), (1, 2));
        assert!(HttpSpec::of(&Source::Scratch).is_none());
    }
}
