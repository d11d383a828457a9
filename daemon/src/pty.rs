//! A terminal for a forwarded command whose client sits at one (`kiln run -it` through the
//! daemon): the command gets a new pseudo-terminal as its controlling terminal and stdio,
//! so it behaves exactly as on the client's own terminal; the master side carries the
//! bytes both ways and the client's window size.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Stdio;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// A terminal window size in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TtySize {
    pub rows: u16,
    pub cols: u16,
}

impl TtySize {
    /// The payload of a resize frame.
    pub fn to_bytes(self) -> [u8; 4] {
        let [a, b] = self.rows.to_be_bytes();
        let [c, d] = self.cols.to_be_bytes();
        [a, b, c, d]
    }

    pub fn from_bytes(b: &[u8]) -> Option<TtySize> {
        match b {
            [a, b, c, d] => Some(TtySize {
                rows: u16::from_be_bytes([*a, *b]),
                cols: u16::from_be_bytes([*c, *d]),
            }),
            _ => None,
        }
    }

    fn winsize(self) -> nix::pty::Winsize {
        nix::pty::Winsize {
            ws_row: self.rows,
            ws_col: self.cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        }
    }
}

/// The daemon's side of a command's terminal.
pub struct Pty {
    master: OwnedFd,
}

impl Pty {
    /// Open a terminal of `size` and make it `cmd`'s stdio and controlling terminal.
    pub fn attach(cmd: &mut tokio::process::Command, size: TtySize) -> std::io::Result<Pty> {
        let pair = nix::pty::openpty(Some(&size.winsize()), None).map_err(std::io::Error::from)?;
        let slave = pair.slave;
        cmd.stdin(Stdio::from(slave.try_clone()?))
            .stdout(Stdio::from(slave.try_clone()?))
            .stderr(Stdio::from(slave));
        // SAFETY: between fork and exec only async-signal-safe calls: setsid and ioctl.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // stdin is the terminal now; make it the controlling one (job control).
                if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Ok(Pty {
            master: pair.master,
        })
    }

    /// Follow the client's window.
    pub fn resize(&self, size: TtySize) {
        let ws = size.winsize();
        // SAFETY: TIOCSWINSZ reads one winsize from a valid pointer on our master fd.
        let rc = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        if rc < 0 {
            tracing::debug!(
                "resizing a command's terminal: {}",
                std::io::Error::last_os_error()
            );
        }
    }

    /// Copy the terminal's output to `out` until the command and its children closed it
    /// (the read fails with EIO), on a plain thread: the master is a blocking fd.
    pub fn read_to(
        &self,
        out: mpsc::Sender<Vec<u8>>,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        let mut master = File::from(self.master.try_clone()?);
        Ok(std::thread::spawn(move || {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match master.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if out.blocking_send(buf[..n].to_vec()).is_err() {
                            return;
                        }
                    }
                }
            }
        }))
    }

    /// A writer for the client's keystrokes, fed from a channel on a plain thread.
    pub fn writer(&self) -> std::io::Result<std::sync::mpsc::Sender<Vec<u8>>> {
        let mut master = File::from(self.master.try_clone()?);
        let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
        std::thread::spawn(move || {
            for data in rx {
                if master.write_all(&data).is_err() {
                    return;
                }
            }
        });
        Ok(tx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_trip() {
        let s = TtySize {
            rows: 40,
            cols: 132,
        };
        assert_eq!(TtySize::from_bytes(&s.to_bytes()), Some(s));
        assert_eq!(TtySize::from_bytes(&[1, 2, 3]), None);
    }

    #[tokio::test]
    async fn a_command_sees_a_terminal_of_the_given_size() {
        let mut cmd = tokio::process::Command::new("sh");
        cmd.args(["-c", "test -t 0 && stty size"]);
        let pty = Pty::attach(&mut cmd, TtySize { rows: 33, cols: 77 }).unwrap();
        let mut child = cmd.spawn().unwrap();
        drop(cmd);
        let (tx, mut rx) = mpsc::channel(8);
        let reader = pty.read_to(tx).unwrap();
        let status = child.wait().await.unwrap();
        assert!(status.success());
        let mut out = Vec::new();
        while let Some(chunk) = rx.recv().await {
            out.extend(chunk);
        }
        reader.join().unwrap();
        assert_eq!(String::from_utf8_lossy(&out).trim(), "33 77");
    }
}
