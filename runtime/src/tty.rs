//! The caller's terminal during an attach: raw mode (restored on drop), its window size,
//! and Docker's detach keys (`ctrl-p,ctrl-q` by default, `--detach-keys`).

use nix::sys::termios;
use std::io::IsTerminal;
use std::os::fd::AsFd;

/// Docker's default detach sequence: ctrl-p ctrl-q.
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

#[derive(Debug, thiserror::Error)]
pub enum TtyError {
    #[error("invalid detach keys {spec:?}: {why} (use e.g. ctrl-p,ctrl-q or ctrl-a,x)")]
    DetachKeys { spec: String, why: String },
}

/// Puts stdin's terminal in raw mode while alive; a no-op when stdin is not a terminal.
pub struct RawMode(Option<termios::Termios>);

impl RawMode {
    pub fn enter() -> RawMode {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return RawMode(None);
        }
        let Ok(saved) = termios::tcgetattr(stdin.as_fd()) else {
            return RawMode(None);
        };
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        if let Err(e) = termios::tcsetattr(stdin.as_fd(), termios::SetArg::TCSANOW, &raw) {
            tracing::warn!("cannot put the terminal in raw mode: {e}");
            return RawMode(None);
        }
        RawMode(Some(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            let _ = termios::tcsetattr(std::io::stdin().as_fd(), termios::SetArg::TCSANOW, t);
        }
    }
}

/// The window size (rows, columns) of the first of stdin, stdout, stderr that is a
/// terminal.
pub fn window_size() -> Option<(u16, u16)> {
    for fd in [0, 1, 2] {
        // SAFETY: TIOCGWINSZ fills a winsize we own; failure leaves it unused.
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } == 0 && ws.ws_row > 0 {
            return Some((ws.ws_row, ws.ws_col));
        }
    }
    None
}

/// Parses Docker's detach key syntax: comma-separated keys, each a single character or
/// `ctrl-X` with X one of `a`-`z`, `@`, `[`, `\`, `]`, `^`, `_`.
pub fn parse_detach_keys(spec: &str) -> Result<Vec<u8>, TtyError> {
    let err = |why: &str| TtyError::DetachKeys {
        spec: spec.to_string(),
        why: why.to_string(),
    };
    let mut out = Vec::new();
    for key in spec.split(',') {
        let lower = key.to_ascii_lowercase();
        if let Some(c) = lower.strip_prefix("ctrl-") {
            let byte = match c.as_bytes() {
                [b @ b'a'..=b'z'] => b - b'a' + 1,
                [b'@'] => 0,
                [b'['] => 27,
                [b'\\'] => 28,
                [b']'] => 29,
                [b'^'] => 30,
                [b'_'] => 31,
                _ => return Err(err(&format!("unknown key {key:?}"))),
            };
            out.push(byte);
        } else if key.len() == 1 {
            out.push(key.as_bytes()[0]);
        } else {
            return Err(err(&format!("unknown key {key:?}")));
        }
    }
    if out.is_empty() {
        return Err(err("no keys"));
    }
    Ok(out)
}

/// Watches input for the detach sequence. Bytes that could start the sequence are held
/// back until it is clear whether they do (then they are passed on, as Docker does).
#[derive(Debug, Clone)]
pub struct DetachMatcher {
    keys: Vec<u8>,
    matched: usize,
}

/// What to do with one chunk of input.
#[derive(Debug, PartialEq, Eq)]
pub enum Scan {
    /// Pass these bytes on.
    Forward(Vec<u8>),
    /// The sequence was typed: detach (after passing on these bytes, which came before it).
    Detach(Vec<u8>),
}

impl DetachMatcher {
    pub fn new(keys: Vec<u8>) -> Self {
        DetachMatcher { keys, matched: 0 }
    }

    pub fn scan(&mut self, input: &[u8]) -> Scan {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if self.keys.get(self.matched) == Some(&b) {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return Scan::Detach(out);
                }
                continue;
            }
            // Not the sequence after all: release what was held, then look at this byte
            // afresh (it may start the sequence itself).
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if self.keys.first() == Some(&b) {
                self.matched = 1;
                if self.keys.len() == 1 {
                    self.matched = 0;
                    return Scan::Detach(out);
                }
            } else {
                out.push(b);
            }
        }
        Scan::Forward(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_key_syntax() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("ctrl-a,x").unwrap(), vec![1, b'x']);
        assert_eq!(parse_detach_keys("ctrl-[").unwrap(), vec![27]);
        assert!(parse_detach_keys("ctrl-1").is_err());
        assert!(parse_detach_keys("alt-x").is_err());
        assert!(parse_detach_keys("").is_err());
    }

    #[test]
    fn detach_sequence_across_chunks_and_false_starts() {
        let mut m = DetachMatcher::new(vec![16, 17]);
        assert_eq!(m.scan(b"ls\r"), Scan::Forward(b"ls\r".to_vec()));
        // A lone ctrl-p is held, then released with the byte that proves it was data.
        assert_eq!(m.scan(&[16]), Scan::Forward(vec![]));
        assert_eq!(m.scan(b"a"), Scan::Forward(vec![16, b'a']));
        // ctrl-p ctrl-p ctrl-q: the first is data, the last two detach.
        assert_eq!(m.scan(&[b'x', 16, 16, 17]), Scan::Detach(vec![b'x', 16]));
        let mut one = DetachMatcher::new(vec![1]);
        assert_eq!(one.scan(&[b'a', 1, b'b']), Scan::Detach(vec![b'a']));
    }
}
