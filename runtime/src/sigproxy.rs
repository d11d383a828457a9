//! Forwarding the signals a CLI receives (ctrl-c, `kill`) to a container's main process, as
//! `docker attach`/`start -a` do with `--sig-proxy` (the default).

use crate::record;
use kiln_cache::Store;
use nix::sys::signal::{SigSet, Signal};
use std::path::PathBuf;

/// Signals forwarded; SIGKILL and SIGSTOP cannot be caught.
const FORWARDED: &[Signal] = &[
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// Blocks the forwarded signals in the calling thread (call before any other thread
/// starts, so every thread inherits the mask) and starts a thread that waits for them and
/// sends each to the container's current main process.
pub fn start(store_root: PathBuf, id: String) -> Result<(), nix::Error> {
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(*s);
    }
    set.thread_block()?;
    std::thread::spawn(move || {
        let Ok(store) = Store::open(&store_root) else {
            return;
        };
        loop {
            let Ok(sig) = set.wait() else { return };
            let Ok(rec) = record::get(store.db(), &id) else {
                return;
            };
            if crate::procs::is_init_of(rec.pid, &id) {
                tracing::debug!(id, ?sig, "forwarding signal to the container");
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(rec.pid), sig);
            }
        }
    });
    Ok(())
}
