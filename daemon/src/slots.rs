//! Directories that hold an uploaded build context while its build runs. Reused rather
//! than created per build, so per-directory state kept by the solver (the context checksum
//! cache) stays bounded by the number of builds that ever ran at once.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Debug)]
pub struct ContextSlots {
    base: PathBuf,
    inner: Arc<Mutex<Pool>>,
}

#[derive(Debug, Default)]
struct Pool {
    free: Vec<usize>,
    next: usize,
}

/// A slot in use; returned to the pool on drop (emptied by its next user).
#[derive(Debug)]
pub struct Slot {
    index: usize,
    path: PathBuf,
    pool: Arc<Mutex<Pool>>,
}

impl Slot {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.pool
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .free
            .push(self.index);
    }
}

impl ContextSlots {
    pub fn new(base: PathBuf) -> ContextSlots {
        ContextSlots {
            base,
            inner: Arc::new(Mutex::new(Pool::default())),
        }
    }

    /// Remove what a previous daemon left (it may have been killed mid-build).
    pub fn reset(&self) {
        if let Err(e) = std::fs::remove_dir_all(&self.base) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("removing old build contexts {}: {e}", self.base.display());
            }
        }
    }

    /// An empty directory for one build's context. Blocking (it empties the directory).
    pub fn acquire(&self) -> std::io::Result<Slot> {
        let index = {
            let mut pool = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            // Lowest first, so a quiet daemon keeps reusing the same few directories.
            pool.free.sort_unstable_by(|a, b| b.cmp(a));
            match pool.free.pop() {
                Some(i) => i,
                None => {
                    pool.next += 1;
                    pool.next - 1
                }
            }
        };
        let slot = Slot {
            index,
            path: self.base.join(index.to_string()),
            pool: self.inner.clone(),
        };
        match std::fs::remove_dir_all(&slot.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        std::fs::create_dir_all(&slot.path)?;
        Ok(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_distinct_while_held_and_reused_empty() {
        let dir = tempfile::tempdir().unwrap();
        let slots = ContextSlots::new(dir.path().join("ctx"));
        let a = slots.acquire().unwrap();
        let b = slots.acquire().unwrap();
        assert_ne!(a.path(), b.path());
        std::fs::write(a.path().join("f"), "x").unwrap();
        let a_path = a.path().to_path_buf();
        drop(a);
        let c = slots.acquire().unwrap();
        assert_eq!(c.path(), a_path);
        assert!(std::fs::read_dir(c.path()).unwrap().next().is_none());
        slots.reset();
        assert!(!dir.path().join("ctx").exists());
    }
}
