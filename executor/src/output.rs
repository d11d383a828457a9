//! Line framing of a container's stdout/stderr as it runs: each complete line (or a chunk
//! of an over-long line, or the unterminated tail at EOF) becomes one timestamped event.

use std::time::SystemTime;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

/// Longest line delivered in one piece; longer lines arrive in chunks marked `partial`.
pub const MAX_LINE: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One line of output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLine {
    pub stream: Stream,
    /// When the end of the line was read.
    pub time: SystemTime,
    /// The bytes without the trailing newline.
    pub line: Vec<u8>,
    /// True when no newline ended this piece (an over-long line or the output's tail).
    pub partial: bool,
}

/// Splits a byte stream into [`OutputLine`]s.
#[derive(Debug)]
pub struct LineFramer {
    stream: Stream,
    buf: Vec<u8>,
}

impl LineFramer {
    pub fn new(stream: Stream) -> Self {
        LineFramer {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn push(&mut self, mut data: &[u8], emit: &mut impl FnMut(OutputLine)) {
        let time = SystemTime::now();
        while let Some(pos) = data.iter().position(|b| *b == b'\n') {
            self.buf.extend_from_slice(&data[..pos]);
            self.flush_chunks(time, emit);
            let line = std::mem::take(&mut self.buf);
            emit(self.line(line, time, false));
            data = &data[pos + 1..];
        }
        self.buf.extend_from_slice(data);
        self.flush_chunks(time, emit);
    }

    /// Emits what is buffered of an unterminated line now, as a partial piece (interactive
    /// output: a prompt must show before its line ends).
    pub fn flush_partial(&mut self, emit: &mut impl FnMut(OutputLine)) {
        self.finish(emit);
    }

    /// Emits the unterminated tail, if any.
    pub fn finish(&mut self, emit: &mut impl FnMut(OutputLine)) {
        if !self.buf.is_empty() {
            let tail = std::mem::take(&mut self.buf);
            emit(self.line(tail, SystemTime::now(), true));
        }
    }

    fn flush_chunks(&mut self, time: SystemTime, emit: &mut impl FnMut(OutputLine)) {
        while self.buf.len() > MAX_LINE {
            let rest = self.buf.split_off(MAX_LINE);
            let chunk = std::mem::replace(&mut self.buf, rest);
            emit(self.line(chunk, time, true));
        }
    }

    fn line(&self, line: Vec<u8>, time: SystemTime, partial: bool) -> OutputLine {
        OutputLine {
            stream: self.stream,
            time,
            line,
            partial,
        }
    }
}

/// Reads `reader` to EOF, sending framed lines to `sink` (dropped when there is none).
/// Read errors end the stream (EIO is how a pty reports its last close). `immediate`
/// delivers each read's unterminated tail at once instead of waiting for its newline.
/// Pumps a child's piped stdout and stderr (whichever it has) into `sink`.
pub(crate) fn pump_child(
    child: &mut tokio::process::Child,
    sink: &Option<UnboundedSender<OutputLine>>,
    immediate: bool,
) -> Vec<JoinHandle<()>> {
    let mut pumps = Vec::new();
    if let Some(out) = child.stdout.take() {
        pumps.push(tokio::spawn(pump(
            out,
            Stream::Stdout,
            sink.clone(),
            immediate,
        )));
    }
    if let Some(err) = child.stderr.take() {
        pumps.push(tokio::spawn(pump(
            err,
            Stream::Stderr,
            sink.clone(),
            immediate,
        )));
    }
    pumps
}

pub(crate) async fn pump<R: AsyncRead + Unpin>(
    mut reader: R,
    stream: Stream,
    sink: Option<UnboundedSender<OutputLine>>,
    immediate: bool,
) {
    let mut framer = LineFramer::new(stream);
    let mut buf = vec![0u8; 16 * 1024];
    let mut emit = |l: OutputLine| {
        if let Some(s) = &sink {
            // A caller that stopped listening does not stop the container.
            let _ = s.send(l);
        }
    };
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                framer.push(&buf[..n], &mut emit);
                if immediate {
                    framer.flush_partial(&mut emit);
                }
            }
        }
    }
    framer.finish(&mut emit);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(chunks: &[&[u8]]) -> Vec<(Vec<u8>, bool)> {
        let mut out = Vec::new();
        let mut f = LineFramer::new(Stream::Stdout);
        let mut emit = |l: OutputLine| out.push((l.line, l.partial));
        for c in chunks {
            f.push(c, &mut emit);
        }
        f.finish(&mut emit);
        out
    }

    #[test]
    fn lines_split_across_chunks() {
        assert_eq!(
            frame(&[b"he", b"llo\nwor", b"ld\n\nta", b"il"]),
            vec![
                (b"hello".to_vec(), false),
                (b"world".to_vec(), false),
                (b"".to_vec(), false),
                (b"tail".to_vec(), true)
            ]
        );
    }

    #[test]
    fn flush_partial_delivers_a_prompt_at_once() {
        let mut out = Vec::new();
        let mut f = LineFramer::new(Stream::Stdout);
        let mut emit = |l: OutputLine| out.push((l.line, l.partial));
        f.push(b"line\n/ # ", &mut emit);
        f.flush_partial(&mut emit);
        f.push(b"ls\n", &mut emit);
        f.finish(&mut emit);
        assert_eq!(
            out,
            vec![
                (b"line".to_vec(), false),
                (b"/ # ".to_vec(), true),
                (b"ls".to_vec(), false)
            ]
        );
    }

    #[test]
    fn long_lines_are_chunked() {
        let long = vec![b'x'; MAX_LINE * 2 + 5];
        let mut data = long.clone();
        data.push(b'\n');
        let out = frame(&[&data]);
        assert_eq!(out.len(), 3);
        assert!(out[0].1 && out[1].1 && !out[2].1);
        assert_eq!(out.iter().map(|l| l.0.len()).sum::<usize>(), long.len());
    }
}
