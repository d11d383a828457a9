//! Networking of a plain foreground `kiln run` (no `-d`, no runtime options): no monitor
//! holds that container, so the kiln process itself owns its namespace on the default
//! bridge for as long as the run lasts and tears it down afterwards. A lock file held for
//! that time tells other kiln processes whether the owner still lives: the veth, address
//! and pinned namespace of a run that was SIGKILLed are reclaimed by the next foreground
//! run and by `kiln network` commands ([`reclaim`]).

use super::{netns, NetError};
use kiln_executor::{ContainerSpec, Mount, MountKind, NetworkMode};
use kiln_network::AttachRequest;
use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::path::{Path, PathBuf};

/// A foreground container's place on the default bridge; dropping it removes it.
pub struct Foreground {
    root: PathBuf,
    id: String,
    ns: PathBuf,
    mounts: Vec<Mount>,
    lock: Option<Flock<File>>,
}

/// `<root>/network/foreground`: one lock file per running foreground container.
fn lock_dir(root: &Path) -> PathBuf {
    root.join("network").join("foreground")
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> NetError + '_ {
    move |source| NetError::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// The run's lock file, already locked (`take_lock_at`: made under a hidden name and
/// renamed into place, so [`reclaim`] never sees an unlocked file of a live run).
fn take_lock(root: &Path, id: &str) -> Result<Flock<File>, NetError> {
    let dir = lock_dir(root);
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let path = dir.join(id);
    kiln_executor::reclaim::take_lock_at(&path).map_err(|source| NetError::Write { path, source })
}

impl Foreground {
    /// Puts container `id` on the default bridge: a pinned namespace with its veth, and
    /// managed `hosts`/`resolv.conf` written into `files` (the container's own directory).
    pub fn start(root: &Path, id: &str, files: &Path) -> Result<Foreground, NetError> {
        reclaim(root);
        let lock = take_lock(root, id)?;
        // From here on, dropping `fg` undoes whatever was made.
        let mut fg = Foreground {
            root: root.to_path_buf(),
            id: id.to_string(),
            ns: netns::path(root, id),
            mounts: Vec::new(),
            lock: Some(lock),
        };
        let mgr = super::manager(root)?;
        super::ensure_default(&mgr)?;
        let hosts = files.join("hosts");
        let resolv = files.join("resolv.conf");
        std::fs::write(&hosts, "").map_err(io_err(&hosts))?;
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let text = kiln_network::hosts::resolv_conf(&Default::default(), &host_resolv);
        std::fs::write(&resolv, text).map_err(io_err(&resolv))?;
        netns::create(&fg.ns)?;
        mgr.attach(&AttachRequest {
            container_id: id.to_string(),
            container_name: String::new(),
            hostname: String::new(),
            netns: fg.ns.clone(),
            network: String::new(),
            aliases: Vec::new(),
            ip: None,
            mac: None,
            hosts_file: Some(hosts.clone()),
            extra_hosts: Vec::new(),
            links: Vec::new(),
        })?;
        for (dest, source) in [("/etc/hosts", hosts), ("/etc/resolv.conf", resolv)] {
            fg.mounts.push(Mount {
                destination: dest.into(),
                kind: MountKind::Bind { source },
                readonly: false,
            });
        }
        Ok(fg)
    }

    /// Points the container's spec at the namespace and files.
    pub fn apply(&self, spec: &mut ContainerSpec) {
        spec.network = NetworkMode::Join(self.ns.clone());
        spec.mounts.extend(self.mounts.iter().cloned());
    }
}

impl Drop for Foreground {
    fn drop(&mut self) {
        // The container has exited: unpinning its namespace lets the kernel remove the
        // veth pair with it in the background, so only the records are updated here.
        let released = netns::remove(&self.ns)
            .map_err(NetError::from)
            .and_then(|()| Ok(super::manager(&self.root)?.release_all(&self.id)?));
        if let Err(e) = released {
            tracing::debug!(id = %self.id, "releasing the foreground network: {e}; tearing down");
            super::teardown_logged(&self.root, &self.id);
        }
        let _ = std::fs::remove_file(lock_dir(&self.root).join(&self.id));
        self.lock.take();
    }
}

/// Removes the networking of foreground runs whose kiln process is gone (its lock is
/// free). Failures are logged: a leftover is retried by the next caller.
pub fn reclaim(root: &Path) {
    let Ok(entries) = std::fs::read_dir(lock_dir(root)) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        if name.starts_with('.') {
            // A hidden name only exists between create and rename, or after a crash there.
            if stale_hidden(&path) {
                let _ = std::fs::remove_file(&path);
            }
            continue;
        }
        let Ok(file) = File::open(&path) else {
            continue;
        };
        let Ok(_held) = Flock::lock(file, FlockArg::LockExclusiveNonblock) else {
            continue; // its run is still going
        };
        tracing::info!(id = %name, "reclaiming the network of a foreground run that ended abruptly");
        match super::teardown(root, &name) {
            Ok(()) => {
                let _ = std::fs::remove_file(&path);
            }
            Err(e) => tracing::warn!(id = %name, "reclaiming a foreground run's network: {e}"),
        }
    }
}

/// A hidden lock file nobody holds, older than the grace (its creator died before the
/// rename; a young one may be between its creation and its lock).
fn stale_hidden(path: &Path) -> bool {
    kiln_executor::reclaim::older_than_grace(path)
        && File::open(path)
            .ok()
            .and_then(|f| Flock::lock(f, FlockArg::LockExclusiveNonblock).ok())
            .is_some()
}
