//! Persistence of [`State`] under `<root>/network/`: a lock file serialises kiln processes
//! (flock, so a crashed holder releases it) and the state file is replaced atomically
//! (temp file, fsync, rename), so a reader never sees a half-written document.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::state::State;

const STATE_FILE: &str = "state.json";
const LOCK_FILE: &str = "lock";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create network state directory {path}: {source}; check that the kiln root is writable")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open lock file {path}: {source}")]
    OpenLock {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot lock {path}: {source}")]
    Lock {
        path: PathBuf,
        source: nix::errno::Errno,
    },
    #[error("cannot read network state {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("network state {path} is corrupt (line {line}, column {column}): {source}; move it aside to start afresh")]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        source: serde_json::Error,
    },
    #[error("cannot write network state {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The on-disk home of networking state.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// Uses `<root>/network/`, creating it when missing.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        let dir = root.join("network");
        fs::create_dir_all(&dir).map_err(|source| StoreError::CreateDir {
            path: dir.clone(),
            source,
        })?;
        Ok(Store { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self, arg: FlockArg) -> Result<Flock<File>, StoreError> {
        let path = self.dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| StoreError::OpenLock {
                path: path.clone(),
                source,
            })?;
        Flock::lock(file, arg).map_err(|(_, source)| StoreError::Lock { path, source })
    }

    fn load(&self) -> Result<State, StoreError> {
        let path = self.dir.join(STATE_FILE);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(State::default()),
            Err(source) => return Err(StoreError::Read { path, source }),
        };
        serde_json::from_slice(&bytes).map_err(|source| StoreError::Parse {
            line: source.line(),
            column: source.column(),
            path,
            source,
        })
    }

    fn save(&self, state: &State) -> Result<(), StoreError> {
        let path = self.dir.join(STATE_FILE);
        let tmp = self
            .dir
            .join(format!(".{STATE_FILE}.{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let bytes = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
            let mut f = File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            // The rename is durable only once the directory entry is.
            File::open(&self.dir)?.sync_all()
        };
        write().map_err(|source| {
            let _ = fs::remove_file(&tmp);
            StoreError::Write {
                path: path.clone(),
                source,
            }
        })
    }

    /// A consistent snapshot, read under a shared lock.
    pub fn read(&self) -> Result<State, StoreError> {
        let _guard = self.lock(FlockArg::LockShared)?;
        self.load()
    }

    /// Runs `f` on the state under the exclusive lock; the state is saved only when `f`
    /// succeeds, so a failed operation leaves the stored state as it was.
    pub fn update<T, E>(&self, f: impl FnOnce(&mut State) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let _guard = self.lock(FlockArg::LockExclusive)?;
        let mut state = self.load()?;
        let before = serde_json::to_vec(&state).ok();
        let out = f(&mut state)?;
        if serde_json::to_vec(&state).ok() != before {
            self.save(&state)?;
        }
        Ok(out)
    }
}
