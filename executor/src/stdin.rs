//! Feeding a live [`crate::Stdin::Stream`] to a running container: bytes to its stdin pipe
//! or pseudo-terminal, window sizes to the terminal, end-of-input to the pipe.

use crate::run::{ExecError, Stdin, StdinEvent};
use std::os::fd::{AsRawFd, OwnedFd};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

/// Aborts the feeding task when the run that owns it ends (the caller may keep its
/// handle long after).
pub(crate) struct Feeder(pub JoinHandle<()>);

impl Drop for Feeder {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The receiver of a live [`Stdin::Stream`], taken (a stream feeds one run only); `None`
/// for the other kinds.
pub(crate) fn take_live(stdin: &Stdin) -> Result<Option<UnboundedReceiver<StdinEvent>>, ExecError> {
    match stdin {
        Stdin::Stream(s) => Ok(Some(s.take().ok_or_else(|| {
            ExecError::InvalidSpec("this stdin stream was already used by another run".into())
        })?)),
        _ => Ok(None),
    }
}

/// Feeds a child's stdin pipe (when it has one): the live stream if there is one, else
/// fixed bytes followed by end-of-file.
pub(crate) fn feed_child(
    child: &mut tokio::process::Child,
    live: Option<UnboundedReceiver<StdinEvent>>,
    stdin: Stdin,
) -> Option<Feeder> {
    let pipe = child.stdin.take()?;
    match (live, stdin) {
        (Some(rx), _) => Some(feed_pipe(pipe, rx)),
        (None, Stdin::Bytes(bytes)) => {
            let mut pipe = pipe;
            tokio::spawn(async move {
                // The process may exit without reading; that is not our error.
                let _ = pipe.write_all(&bytes).await;
            });
            None
        }
        (None, _) => None,
    }
}

/// Sets a terminal's window size; the kernel sends SIGWINCH to its foreground group.
pub(crate) fn set_winsize(fd: &impl AsRawFd, rows: u16, cols: u16) -> std::io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a valid winsize from our stack.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Takes what the caller queued before the start: leading resizes are applied to the
/// terminal now; everything from the first other event on is returned, in order, for the
/// feeder to handle first.
pub(crate) fn apply_early_resizes(
    master: &impl AsRawFd,
    rx: &mut UnboundedReceiver<StdinEvent>,
) -> Vec<StdinEvent> {
    let mut rest = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        match ev {
            StdinEvent::Resize { rows, cols } if rest.is_empty() => {
                if let Err(e) = set_winsize(master, rows, cols) {
                    tracing::debug!("sizing the container's terminal: {e}");
                }
            }
            other => rest.push(other),
        }
    }
    rest
}

/// Writes input to the pty master (a dup of the one output is read from) and applies
/// resizes. The master stays blocking (the reader shares its file status flags), so writes
/// go through tokio's blocking file wrapper.
pub(crate) fn feed_pty(
    master: OwnedFd,
    early: Vec<StdinEvent>,
    mut rx: UnboundedReceiver<StdinEvent>,
) -> Feeder {
    Feeder(tokio::spawn(async move {
        let std_file = std::fs::File::from(master);
        let resize_fd = match std_file.try_clone() {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!("duplicating the pty master for resizes: {e}");
                return;
            }
        };
        let mut file = tokio::fs::File::from_std(std_file);
        let mut early = early.into_iter();
        loop {
            let ev = match early.next() {
                Some(ev) => ev,
                None => match rx.recv().await {
                    Some(ev) => ev,
                    None => return,
                },
            };
            match ev {
                StdinEvent::Data(bytes) => {
                    if write(&mut file, &bytes).await.is_err() {
                        return;
                    }
                }
                StdinEvent::Resize { rows, cols } => {
                    if let Err(e) = set_winsize(&resize_fd, rows, cols) {
                        tracing::debug!("resizing the container's terminal: {e}");
                    }
                }
                // A terminal has no end of input short of closing it; the process decides
                // (a ^D typed by the user is data).
                StdinEvent::Close => {}
            }
        }
    }))
}

/// Writes input to the container's stdin pipe; `Close` (or every handle gone) closes it.
pub(crate) fn feed_pipe<W: AsyncWrite + Unpin + Send + 'static>(
    mut pipe: W,
    mut rx: UnboundedReceiver<StdinEvent>,
) -> Feeder {
    Feeder(tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            match ev {
                StdinEvent::Data(bytes) => {
                    // The process may have closed its stdin; that ends the input.
                    if write(&mut pipe, &bytes).await.is_err() {
                        return;
                    }
                }
                StdinEvent::Resize { .. } => {}
                StdinEvent::Close => return,
            }
        }
    }))
}

async fn write<W: AsyncWrite + Unpin>(w: &mut W, bytes: &[u8]) -> std::io::Result<()> {
    w.write_all(bytes).await?;
    w.flush().await
}
