//! A container's private state directory on the host: the empty rootfs mountpoint and the
//! per-container `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname` bound into it.
//! Removed when dropped. Its `lock` file stays locked by the caller meanwhile: a
//! directory whose lock is free belongs to a dead caller (`reclaim.rs`).

use crate::spec::{ContainerSpec, NetworkMode};
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("creating container state {path}: {source} (a container with this id may be running; ids must be unique)")]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

#[derive(Debug)]
pub struct StateDir {
    path: PathBuf,
    _lock: nix::fcntl::Flock<std::fs::File>,
}

impl StateDir {
    pub fn create(root: &Path, spec: &ContainerSpec) -> Result<StateDir, StateError> {
        std::fs::create_dir_all(root).map_err(|source| StateError::Create {
            path: root.to_path_buf(),
            source,
        })?;
        let path = root.join(&spec.id);
        std::fs::create_dir(&path).map_err(|source| StateError::Create {
            path: path.clone(),
            source,
        })?;
        let lock = match crate::reclaim::take_lock(&path) {
            Ok(l) => l,
            Err(source) => {
                let _ = std::fs::remove_file(path.join(".lock.new"));
                let _ = std::fs::remove_file(path.join(crate::reclaim::LOCK));
                let _ = std::fs::remove_dir(&path);
                return Err(StateError::Create {
                    path: path.join(crate::reclaim::LOCK),
                    source,
                });
            }
        };
        let state = StateDir { path, _lock: lock };
        let mkdir = |p: PathBuf| {
            std::fs::create_dir(&p).map_err(|source| StateError::Create { path: p, source })
        };
        mkdir(state.rootfs())?;
        mkdir(state.path.join("etc"))?;
        let hostname = spec.effective_hostname();
        let mut hosts =
            String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
        if spec.network == NetworkMode::None {
            hosts.push_str(&format!("127.0.0.1\t{hostname}\n"));
        }
        for (name, addr) in &spec.extra_hosts {
            hosts.push_str(&format!("{addr}\t{name}\n"));
        }
        // Docker copies the host's resolver config; with no network it hardly matters.
        let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        for (name, content) in [
            ("hosts", hosts),
            ("resolv.conf", resolv),
            ("hostname", format!("{hostname}\n")),
        ] {
            let p = state.path.join("etc").join(name);
            std::fs::write(&p, content).map_err(|source| StateError::Write { path: p, source })?;
        }
        Ok(state)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn rootfs(&self) -> PathBuf {
        self.path.join("rootfs")
    }

    /// (container path, host file) pairs to bind.
    pub fn etc_files(&self) -> Vec<(String, PathBuf)> {
        ["hosts", "resolv.conf", "hostname"]
            .iter()
            .map(|n| (format!("/etc/{n}"), self.path.join("etc").join(n)))
            .collect()
    }
}

impl Drop for StateDir {
    /// Removes only what `create` made, never recursively: if the rootfs were still
    /// mounted, a recursive delete would wipe the container's files.
    fn drop(&mut self) {
        let mut paths: Vec<PathBuf> = ["hosts", "resolv.conf", "hostname"]
            .iter()
            .map(|n| self.path.join("etc").join(n))
            .collect();
        // Unlinked while still held: the lock is released only after the directory goes.
        paths.push(self.path.join(crate::reclaim::LOCK));
        let dirs = [self.path.join("etc"), self.rootfs(), self.path.clone()];
        // An OCI bundle's config, when the runc runtime wrote one.
        let bundle = self.path.join("config.json");
        if bundle.exists() {
            paths.push(bundle);
        }
        for p in paths.drain(..) {
            if let Err(e) = std::fs::remove_file(&p) {
                tracing::warn!("removing container state file {}: {e}", p.display());
            }
        }
        for d in dirs {
            if let Err(e) = std::fs::remove_dir(&d) {
                tracing::warn!("removing container state dir {}: {e}", d.display());
            }
        }
    }
}
