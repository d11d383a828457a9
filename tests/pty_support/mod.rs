//! A kiln client on the slave side of a pseudo-terminal the test holds the master of, as
//! a user's terminal would be (its controlling terminal, so a resize arrives as SIGWINCH).
//! The child is killed on drop, also when the test fails. Used by the runtime's and the
//! daemon's `-it` tests.
#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Pty {
    master: File,
    child: Child,
    seen: Vec<u8>,
}

pub fn set_size(fd: &impl AsRawFd, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a valid winsize.
    assert_eq!(
        unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) },
        0
    );
}

impl Pty {
    /// Run `cmd` on a new 24x80 terminal.
    pub fn spawn(mut cmd: Command) -> Pty {
        let (mut master, mut slave) = (0, 0);
        // SAFETY: openpty writes two descriptors; the name/termios/winsize arguments are null.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: fresh descriptors from openpty, owned here.
        let (master, slave) = unsafe { (File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        set_size(&master, 24, 80);
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: setsid and TIOCSCTTY are async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        Pty {
            master,
            child,
            seen: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).unwrap();
    }

    fn read_some(&mut self, timeout_ms: i32) {
        let mut pfd = libc::pollfd {
            fd: self.master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut pfd, 1, timeout_ms) } > 0 {
            let mut buf = [0u8; 4096];
            match self.master.read(&mut buf) {
                Ok(n) if n > 0 => self.seen.extend_from_slice(&buf[..n]),
                // EIO: kiln exited and closed the terminal.
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// Read until `pat` shows up in what arrived since the last match; returns that text
    /// (30 s bound: a correctness limit, not a speed goal).
    pub fn expect(&mut self, pat: &str) -> String {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let text = String::from_utf8_lossy(&self.seen).into_owned();
            if let Some(pos) = text.find(pat) {
                self.seen.drain(..pos + pat.len());
                return text;
            }
            assert!(
                Instant::now() < until,
                "timed out waiting for {pat:?}; terminal shows {text:?}"
            );
            self.read_some(100);
        }
    }

    pub fn resize(&self, rows: u16, cols: u16) {
        set_size(&self.master, rows, cols);
    }

    /// The exit code, keeping the terminal drained so kiln never blocks writing to it.
    pub fn wait(mut self) -> i32 {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code().unwrap_or(-1);
            }
            assert!(Instant::now() < until, "kiln did not exit");
            self.read_some(20);
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
