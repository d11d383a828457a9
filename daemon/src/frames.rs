//! The framing of a forwarded command's upgraded connection: each frame is one kind byte,
//! a big-endian u32 length and that many bytes. Client to daemon: the request, stdin data,
//! stdin's end. Daemon to client: stdout, stderr, the exit code, an error.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Frames larger than this are a protocol error (stdio chunks are far smaller).
const MAX_FRAME: u32 = 16 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Client → daemon: the [`crate::api::CommandRequest`] as JSON; the first frame.
    Request = 1,
    Stdin = 2,
    /// Client → daemon: stdin is at its end (empty payload).
    StdinEnd = 3,
    Stdout = 4,
    Stderr = 5,
    /// Daemon → client: the command's exit code as a big-endian i32; the last frame.
    Exit = 6,
    /// Daemon → client: the command could not be run ([`crate::api::ErrorBody`] JSON).
    Error = 7,
    /// Client → daemon: the client's terminal changed size ([`crate::pty::TtySize`]).
    Resize = 8,
}

impl Kind {
    fn from_byte(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Request,
            2 => Kind::Stdin,
            3 => Kind::StdinEnd,
            4 => Kind::Stdout,
            5 => Kind::Stderr,
            6 => Kind::Exit,
            7 => Kind::Error,
            8 => Kind::Resize,
            _ => return None,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("reading or writing the command stream: {0}")]
    Io(#[from] std::io::Error),
    #[error("command stream: unknown frame kind {0}; client and daemon versions differ?")]
    UnknownKind(u8),
    #[error("command stream: a frame of {0} bytes is larger than the limit")]
    TooLarge(u32),
}

pub async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    kind: Kind,
    payload: &[u8],
) -> Result<(), FrameError> {
    let len = u32::try_from(payload.len()).map_err(|_| FrameError::TooLarge(u32::MAX))?;
    let mut head = [0u8; 5];
    head[0] = kind as u8;
    head[1..].copy_from_slice(&len.to_be_bytes());
    w.write_all(&head).await?;
    w.write_all(payload).await?;
    w.flush().await?;
    Ok(())
}

/// The next frame, or `None` at a clean end of the stream.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
) -> Result<Option<(Kind, Vec<u8>)>, FrameError> {
    let mut head = [0u8; 5];
    match r.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let kind = Kind::from_byte(head[0]).ok_or(FrameError::UnknownKind(head[0]))?;
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]);
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    let mut payload = vec![0u8; len as usize];
    r.read_exact(&mut payload).await?;
    Ok(Some((kind, payload)))
}

/// The exit code carried by an [`Kind::Exit`] frame.
pub fn exit_code(payload: &[u8]) -> Option<i32> {
    let b: [u8; 4] = payload.try_into().ok()?;
    Some(i32::from_be_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_bad_input_is_an_error() {
        let mut buf = Vec::new();
        write_frame(&mut buf, Kind::Stdout, b"hello").await.unwrap();
        write_frame(&mut buf, Kind::Exit, &7i32.to_be_bytes())
            .await
            .unwrap();
        let mut r = buf.as_slice();
        let (k, p) = read_frame(&mut r).await.unwrap().unwrap();
        assert_eq!((k, p.as_slice()), (Kind::Stdout, &b"hello"[..]));
        let (k, p) = read_frame(&mut r).await.unwrap().unwrap();
        assert_eq!((k, exit_code(&p)), (Kind::Exit, Some(7)));
        assert!(read_frame(&mut r).await.unwrap().is_none());
        let mut bad: &[u8] = &[99, 0, 0, 0, 0];
        assert!(matches!(
            read_frame(&mut bad).await,
            Err(FrameError::UnknownKind(99))
        ));
        let mut huge: &[u8] = &[4, 0xff, 0xff, 0xff, 0xff];
        assert!(matches!(
            read_frame(&mut huge).await,
            Err(FrameError::TooLarge(_))
        ));
        let mut short: &[u8] = &[4, 0, 0, 0, 9, b'x'];
        assert!(matches!(
            read_frame(&mut short).await,
            Err(FrameError::Io(_))
        ));
    }
}
