//! Copying between the exec helper's stdio and the process's pseudo-terminal, with the
//! caller's terminal (if stdin is one) in raw mode and its window size passed on.

use crate::tty::RawMode;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};

fn copy_winsize(master: &OwnedFd) {
    use std::os::fd::AsRawFd;
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // The caller's terminal may be any of its stdio (stdin is /dev/null without -i).
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ with a valid winsize buffer; failures are harmless.
    unsafe {
        for fd in [0, 1, 2] {
            if libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) == 0 {
                libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws);
                return;
            }
        }
    }
}

/// Relays until the process side of the terminal closes.
pub(super) fn relay_tty(master: OwnedFd) {
    let _raw = RawMode::enter();
    copy_winsize(&master);
    // SIGWINCH arrives as a readable signalfd, so a resize of the caller's terminal is
    // passed on while we relay.
    let mut winch = SigSet::empty();
    winch.add(Signal::SIGWINCH);
    let resize = winch
        .thread_block()
        .ok()
        .and_then(|_| SignalFd::with_flags(&winch, SfdFlags::SFD_CLOEXEC).ok());
    let mut master_file = std::fs::File::from(master);
    let mut stdin_open = true;
    let mut buf = [0u8; 8192];
    loop {
        let stdin = std::io::stdin();
        let mut fds = vec![PollFd::new(master_file.as_fd(), PollFlags::POLLIN)];
        if let Some(sfd) = &resize {
            fds.push(PollFd::new(sfd.as_fd(), PollFlags::POLLIN));
        }
        let stdin_slot = fds.len();
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return,
        }
        let ready = |i: usize| {
            fds.get(i)
                .and_then(|f| f.revents())
                .unwrap_or(PollFlags::empty())
        };
        let master_ready = ready(0);
        let resized = resize.is_some() && ready(1).contains(PollFlags::POLLIN);
        let stdin_ready = if stdin_open {
            ready(stdin_slot)
        } else {
            PollFlags::empty()
        };
        drop(fds);
        if resized {
            if let Some(sfd) = &resize {
                let _ = sfd.read_signal();
            }
            if let Ok(m) = master_file.try_clone() {
                copy_winsize(&OwnedFd::from(m));
            }
        }
        if master_ready.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
            match master_file.read(&mut buf) {
                // EIO: every slave descriptor closed (the process exited).
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let mut out = std::io::stdout().lock();
                    let _ = out.write_all(&buf[..n]);
                    let _ = out.flush();
                }
            }
        }
        if stdin_ready.intersects(PollFlags::POLLIN | PollFlags::POLLHUP) {
            match std::io::stdin().lock().read(&mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => {
                    if master_file.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            }
        }
    }
}
