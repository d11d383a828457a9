//! The CLI's side of attach: connect to the monitor, relay this terminal (raw mode, window
//! size and its changes, detach keys) or plain stdin, print the output, and tell whether
//! the container's process ended or the user detached.

use super::{decode, read_some, resize_payload, send, short_path, AttachError, Hello, Kind};
use crate::tty::{window_size, DetachMatcher, RawMode, Scan};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

#[derive(Debug, Clone)]
pub struct AttachOptions {
    /// Relay this process's stdin to the container.
    pub stdin: bool,
    /// The container has a terminal: raw mode, window sizes, detach keys.
    pub tty: bool,
    /// Also show the output the current run produced before this attach.
    pub replay: bool,
    /// The detach sequence (see [`crate::tty::parse_detach_keys`]).
    pub detach_keys: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The container's process ended (with this code, when the monitor said) or its
    /// monitor went away.
    Ended(Option<i32>),
    /// The user typed the detach keys; the container runs on.
    Detached,
}

/// Connects to the attach socket in the container's directory.
pub fn connect(container_dir: &Path) -> Result<UnixStream, AttachError> {
    let err = |source| AttachError::Connect {
        path: container_dir.join(super::SOCKET),
        source,
    };
    let (_dir, short) = short_path(container_dir).map_err(err)?;
    UnixStream::connect(&short).map_err(err)
}

/// Relays until the container's process ends or the user detaches.
pub fn relay(mut sock: UnixStream, opts: &AttachOptions) -> Result<Outcome, AttachError> {
    let hello = Hello {
        replay: opts.replay,
        stdin: opts.stdin,
    };
    let hello = serde_json::to_vec(&hello).map_err(|e| AttachError::Protocol(e.to_string()))?;
    if send(&mut sock, Kind::Hello, &hello).is_err() {
        // The monitor is closing: the process has just ended.
        return Ok(Outcome::Ended(None));
    }
    let _raw = (opts.tty && opts.stdin).then(RawMode::enter);
    // SIGWINCH as a readable descriptor; blocked first so it is not lost (its default
    // action is to ignore it).
    let winch = if opts.tty {
        let mut set = SigSet::empty();
        set.add(Signal::SIGWINCH);
        set.thread_block()
            .ok()
            .and_then(|_| SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC).ok())
    } else {
        None
    };
    if opts.tty {
        if let Some((rows, cols)) = window_size() {
            // A vanished monitor shows up as end of stream below.
            let _ = send(&mut sock, Kind::Resize, &resize_payload(rows, cols));
        }
    }
    // From here on a failed send means the monitor went away with the process: the
    // caller learns the exit code from the container's record.
    let mut matcher = DetachMatcher::new(opts.detach_keys.clone());
    let mut stdin_open = opts.stdin;
    let mut inbuf = Vec::new();
    let mut reader = sock.try_clone()?;
    loop {
        let stdin = std::io::stdin();
        let mut fds = vec![PollFd::new(reader.as_fd(), PollFlags::POLLIN)];
        let winch_slot = winch.as_ref().map(|w| {
            fds.push(PollFd::new(w.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let stdin_slot = stdin_open.then(|| {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(AttachError::Io(e.into())),
        }
        let ready = |slot: Option<usize>| {
            slot.and_then(|i| fds.get(i))
                .and_then(|f| f.revents())
                .is_some_and(|r| !r.is_empty())
        };
        let (sock_ready, winch_ready, stdin_ready) =
            (ready(Some(0)), ready(winch_slot), ready(stdin_slot));
        drop(fds);
        if winch_ready {
            if let Some(w) = &winch {
                let _ = w.read_signal();
            }
            if let Some((rows, cols)) = window_size() {
                if send(&mut sock, Kind::Resize, &resize_payload(rows, cols)).is_err() {
                    return Ok(Outcome::Ended(None));
                }
            }
        }
        if stdin_ready {
            let mut chunk = [0u8; 8192];
            match std::io::stdin().lock().read(&mut chunk) {
                Ok(0) | Err(_) => {
                    stdin_open = false;
                    // A terminal keeps the container's input open; a pipe's end is its EOF.
                    if !opts.tty && send(&mut sock, Kind::CloseStdin, b"").is_err() {
                        return Ok(Outcome::Ended(None));
                    }
                }
                Ok(n) if opts.tty => match matcher.scan(&chunk[..n]) {
                    Scan::Forward(bytes) => {
                        if !bytes.is_empty() && send(&mut sock, Kind::Stdin, &bytes).is_err() {
                            return Ok(Outcome::Ended(None));
                        }
                    }
                    Scan::Detach(before) => {
                        if !before.is_empty() {
                            let _ = send(&mut sock, Kind::Stdin, &before);
                        }
                        return Ok(Outcome::Detached);
                    }
                },
                Ok(n) => {
                    if send(&mut sock, Kind::Stdin, &chunk[..n]).is_err() {
                        return Ok(Outcome::Ended(None));
                    }
                }
            }
        }
        if sock_ready {
            // A monitor that vanished mid-stream ends the attach like the process did.
            let open = read_some(&mut reader, &mut inbuf).unwrap_or(false);
            for (kind, payload) in decode(&mut inbuf)? {
                match kind {
                    Kind::Stdout => write_out(&mut std::io::stdout().lock(), &payload),
                    Kind::Stderr => write_out(&mut std::io::stderr().lock(), &payload),
                    Kind::End => {
                        let code = <[u8; 4]>::try_from(payload.as_slice())
                            .ok()
                            .map(i32::from_be_bytes);
                        return Ok(Outcome::Ended(code));
                    }
                    _ => {}
                }
            }
            if !open {
                return Ok(Outcome::Ended(None));
            }
        }
    }
}

fn write_out(w: &mut impl Write, data: &[u8]) {
    // A closed stdout (`| head`) does not stop the container.
    let _ = w.write_all(data).and_then(|_| w.flush());
}
