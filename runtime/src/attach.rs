//! Interactive attach to a container through its monitor: the monitor of a container with
//! a tty or an open stdin listens on `containers/<id>/attach.sock`; clients (`run -it`,
//! `start -ai`, `attach`) send input and window sizes and receive the output as it is
//! produced. One frame format both ways: kind (1 byte), length (4 bytes, big-endian),
//! payload.

pub mod client;
pub mod server;

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// The socket's file name in the container directory.
pub const SOCKET: &str = "attach.sock";

/// Largest payload accepted (output chunks are at most 64 KiB).
const MAX_FRAME: u32 = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Client → monitor, first frame: JSON [`Hello`].
    Hello = 1,
    /// Client → monitor: bytes for the container's stdin.
    Stdin = 2,
    /// Client → monitor: rows and columns, two big-endian u16.
    Resize = 3,
    /// Client → monitor: the client's input ended.
    CloseStdin = 4,
    /// Monitor → client: output.
    Stdout = 10,
    Stderr = 11,
    /// Monitor → client: the container's process ended (the connection closes next); the
    /// payload is its exit code (4 bytes, big-endian) when it ran.
    End = 12,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Hello,
            2 => Kind::Stdin,
            3 => Kind::Resize,
            4 => Kind::CloseStdin,
            10 => Kind::Stdout,
            11 => Kind::Stderr,
            12 => Kind::End,
            _ => return None,
        })
    }
}

/// What an attaching client asks for.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Hello {
    /// Send the output of the current run produced before this attach (a client that has
    /// just started the container must not miss its first output).
    pub replay: bool,
    /// This client sends input.
    pub stdin: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("attach socket {path}: {source}")]
    Connect {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("attach connection: {0}")]
    Io(#[from] io::Error),
    #[error("attach protocol: {0}")]
    Protocol(String),
}

pub fn encode(kind: Kind, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + payload.len());
    out.push(kind as u8);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Splits complete frames off the front of `buf`.
pub fn decode(buf: &mut Vec<u8>) -> Result<Vec<(Kind, Vec<u8>)>, AttachError> {
    let mut frames = Vec::new();
    while let Some(header) = buf.get(..5) {
        let kind = Kind::from_u8(header[0])
            .ok_or_else(|| AttachError::Protocol(format!("unknown frame kind {}", header[0])))?;
        let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
        if len > MAX_FRAME {
            return Err(AttachError::Protocol(format!(
                "frame of {len} bytes exceeds {MAX_FRAME}"
            )));
        }
        let end = 5 + len as usize;
        if buf.len() < end {
            break;
        }
        let payload = buf[5..end].to_vec();
        buf.drain(..end);
        frames.push((kind, payload));
    }
    Ok(frames)
}

pub fn resize_payload(rows: u16, cols: u16) -> Vec<u8> {
    let mut p = rows.to_be_bytes().to_vec();
    p.extend_from_slice(&cols.to_be_bytes());
    p
}

pub fn parse_resize(p: &[u8]) -> Option<(u16, u16)> {
    match p {
        [a, b, c, d] => Some((u16::from_be_bytes([*a, *b]), u16::from_be_bytes([*c, *d]))),
        _ => None,
    }
}

/// A short address for a socket in `dir`: socket paths are limited to 107 bytes and a
/// store's container directories can be longer, so the directory is opened and named
/// through `/proc/self/fd`. Keep the returned descriptor open while using the path.
pub(crate) fn short_path(dir: &Path) -> io::Result<(OwnedFd, PathBuf)> {
    let fd: OwnedFd = std::fs::File::open(dir)?.into();
    let path = PathBuf::from(format!("/proc/self/fd/{}/{SOCKET}", fd.as_raw_fd()));
    Ok((fd, path))
}

/// Reads into `buf` what one read returns; Ok(false) at end of stream.
pub(crate) fn read_some(r: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<bool> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match r.read(&mut chunk) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(true);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

pub(crate) fn send(w: &mut impl Write, kind: Kind, payload: &[u8]) -> io::Result<()> {
    w.write_all(&encode(kind, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_across_partial_reads() {
        let mut wire = encode(Kind::Stdin, b"ls\r");
        wire.extend(encode(Kind::Resize, &resize_payload(30, 100)));
        wire.extend(encode(Kind::End, b""));
        let mut buf = wire[..4].to_vec();
        assert!(decode(&mut buf).unwrap().is_empty());
        buf.extend_from_slice(&wire[4..10]);
        let first = decode(&mut buf).unwrap();
        assert_eq!(first, vec![(Kind::Stdin, b"ls\r".to_vec())]);
        buf.extend_from_slice(&wire[10..]);
        let rest = decode(&mut buf).unwrap();
        assert_eq!(rest.len(), 2);
        assert_eq!(parse_resize(&rest[0].1), Some((30, 100)));
        assert_eq!(rest[1].0, Kind::End);
        assert!(buf.is_empty());
        let mut bad = vec![99, 0, 0, 0, 0];
        assert!(decode(&mut bad).is_err());
        let mut huge = encode(Kind::Stdout, b"");
        huge[1] = 0xff;
        assert!(decode(&mut huge).is_err());
    }
}
