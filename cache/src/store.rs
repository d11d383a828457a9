//! `Store`: one kiln root (`blobs/`, `snapshots/`, `meta.db`) opened for use, and the error
//! type of the store-level operations built on it (images, snapshots, leases, GC, archives).

use std::fs;
use std::path::{Path, PathBuf};

use crate::content::{ContentError, ContentStore};
use crate::db::{Db, DbError};
use crate::digest::Digest;
use crate::fsutil::{self, HeldLock};
use crate::layer::LayerError;
use crate::reference::ReferenceError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error("no such image: {0}")]
    ImageNotFound(String),
    #[error(
        "{input:?} matches several images ({candidates}); use more characters of the id or a name"
    )]
    Ambiguous { input: String, candidates: String },
    #[error("{what} {digest} is not valid JSON of the expected kind: {source}")]
    BadDocument {
        what: &'static str,
        digest: Digest,
        source: serde_json::Error,
    },
    #[error("image {manifest}: {reason}")]
    InvalidImage { manifest: Digest, reason: String },
    #[error("image {image} is used by {holders}; stop and remove those first, or force")]
    InUse { image: String, holders: String },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("archive: {0}")]
    Archive(String),
}

pub(crate) fn io_err(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io { op, path, source }
}

pub struct Store {
    root: PathBuf,
    content: ContentStore,
    db: Db,
    allow_devices: bool,
}

impl Store {
    /// Open (creating if needed) the store at `root`.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        fs::create_dir_all(root.join("snapshots"))
            .map_err(io_err("create", &root.join("snapshots")))?;
        let content = ContentStore::open(root)?;
        let db = Db::open(&root.join("meta.db"))?;
        Ok(Store {
            root: root.to_path_buf(),
            content,
            db,
            allow_devices: false,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Whether layers may create char/block device nodes in snapshots (off by default: an
    /// image from a registry should not bring host devices).
    pub fn set_allow_devices(&mut self, allow: bool) {
        self.allow_devices = allow;
    }

    pub fn allow_devices(&self) -> bool {
        self.allow_devices
    }

    pub fn snapshots_dir(&self) -> PathBuf {
        self.root.join("snapshots")
    }

    fn gc_lock(&self, exclusive: bool) -> Result<HeldLock, StoreError> {
        let p = self.root.join("gc.lock");
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(io_err("open", &p))?;
        fsutil::lock_file(f, exclusive, true)
            .map_err(io_err("lock", &p))?
            .ok_or_else(|| StoreError::Io {
                op: "lock",
                path: p,
                source: std::io::Error::other("lock not granted"),
            })
    }

    /// Held while writing content that is not yet referenced by a row (load, import, layer
    /// commits): the garbage collector waits for every such writer before it looks.
    pub fn write_guard(&self) -> Result<HeldLock, StoreError> {
        self.gc_lock(false)
    }

    /// Held by the garbage collector and repair: no writer is between "blob written" and
    /// "row referencing it inserted".
    pub(crate) fn gc_guard(&self) -> Result<HeldLock, StoreError> {
        self.gc_lock(true)
    }
}

pub use crate::fsutil::HeldLock as StoreLock;
