//! The client's terminal during a forwarded interactive command: raw mode (keys go to the
//! command's terminal in the daemon as typed, ^C included) restored on drop, and the
//! window size the daemon's terminal follows.

use std::io::IsTerminal;
use std::mem::MaybeUninit;

use kiln_daemon::pty::TtySize;

/// The window size of our terminal (stdout's, else stdin's).
pub fn size() -> Option<TtySize> {
    for fd in [libc::STDOUT_FILENO, libc::STDIN_FILENO] {
        let mut ws = MaybeUninit::<libc::winsize>::zeroed();
        // SAFETY: TIOCGWINSZ writes one winsize into the pointer we pass.
        let rc = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, ws.as_mut_ptr()) };
        if rc == 0 {
            // SAFETY: the ioctl succeeded, so it filled the struct (zeroed before anyway).
            let ws = unsafe { ws.assume_init() };
            if ws.ws_row > 0 && ws.ws_col > 0 {
                return Some(TtySize {
                    rows: ws.ws_row,
                    cols: ws.ws_col,
                });
            }
        }
    }
    None
}

/// Whether stdin is a terminal to forward.
pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

/// Raw mode on stdin until dropped.
pub struct RawMode {
    saved: libc::termios,
}

impl RawMode {
    pub fn enter() -> std::io::Result<RawMode> {
        let mut t = MaybeUninit::<libc::termios>::zeroed();
        // SAFETY: tcgetattr fills the termios for fd 0; checked below.
        if unsafe { libc::tcgetattr(libc::STDIN_FILENO, t.as_mut_ptr()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: tcgetattr succeeded.
        let saved = unsafe { t.assume_init() };
        let mut raw = saved;
        // SAFETY: cfmakeraw only edits the struct; tcsetattr reads it.
        unsafe { libc::cfmakeraw(&mut raw) };
        if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &raw) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the attributes read in `enter`.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.saved) };
    }
}
