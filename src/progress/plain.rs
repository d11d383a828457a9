//! BuildKit's `--progress plain` format:
//!
//! ```text
//! #3 [build 2/4] RUN make
//! #3 0.153 compiling...
//! #3 DONE 1.2s
//!
//! #4 [stage-1 2/3] COPY --from=build /src/greet /usr/local/bin/greet
//! #4 CACHED
//! ```
//!
//! Steps are numbered in the order they first appear; a log line is prefixed with the
//! seconds since its step started; a blank line separates output of different steps.

use std::collections::HashMap;
use std::io::Write;

use kiln_frontend::graph::Digest;
use kiln_solver::Event;

use super::Printer;

pub struct PlainPrinter<W: Write + Send> {
    out: W,
    numbers: HashMap<Digest, usize>,
    started: HashMap<Digest, u64>,
    /// Partial last line of each step's output, completed by a later chunk.
    pending: HashMap<Digest, String>,
    last: Option<Digest>,
}

impl<W: Write + Send> PlainPrinter<W> {
    pub fn new(out: W) -> Self {
        PlainPrinter {
            out,
            numbers: HashMap::new(),
            started: HashMap::new(),
            pending: HashMap::new(),
            last: None,
        }
    }

    #[cfg(test)]
    pub fn into_inner(self) -> W {
        self.out
    }

    /// The step's number, assigning the next one on first sight.
    fn number(&mut self, vertex: &Digest) -> usize {
        let next = self.numbers.len() + 1;
        *self.numbers.entry(vertex.clone()).or_insert(next)
    }

    /// Separate groups of lines that belong to different steps.
    fn switch_to(&mut self, vertex: &Digest) {
        if self.last.as_ref() != Some(vertex) {
            if self.last.is_some() {
                let _ = writeln!(self.out);
            }
            self.last = Some(vertex.clone());
        }
    }

    fn header(&mut self, vertex: &Digest, name: &str) {
        let n = self.number(vertex);
        self.switch_to(vertex);
        let _ = writeln!(self.out, "#{n} {name}");
    }

    fn log_line(&mut self, vertex: &Digest, time: u64, line: &str) {
        let n = self.number(vertex);
        self.switch_to(vertex);
        let since = self
            .started
            .get(vertex)
            .map(|s| time.saturating_sub(*s) as f64 / 1e9)
            .unwrap_or(0.0);
        let _ = writeln!(self.out, "#{n} {since:.3} {line}");
    }

    fn flush_pending(&mut self, vertex: &Digest, time: u64) {
        if let Some(rest) = self.pending.remove(vertex) {
            if !rest.is_empty() {
                self.log_line(vertex, time, &rest);
            }
        }
    }
}

impl<W: Write + Send> Printer for PlainPrinter<W> {
    fn event(&mut self, event: &Event) {
        match event {
            Event::Started { vertex, name, time } => {
                self.started.insert(vertex.clone(), *time);
                self.header(vertex, name);
            }
            Event::Cached { vertex, name } => {
                self.header(vertex, name);
                let n = self.number(vertex);
                let _ = writeln!(self.out, "#{n} CACHED");
            }
            Event::Shared { vertex, name } => {
                self.header(vertex, name);
                let n = self.number(vertex);
                let _ = writeln!(self.out, "#{n} waiting for the same step in another build");
            }
            Event::Explained { vertex, reason } => {
                let n = self.number(vertex);
                self.switch_to(vertex);
                let _ = writeln!(self.out, "#{n} cache miss: {reason}");
            }
            Event::Log {
                vertex, data, time, ..
            } => {
                let mut text = self.pending.remove(vertex).unwrap_or_default();
                text.push_str(data);
                let mut lines: Vec<&str> = text.split('\n').collect();
                // The text after the last newline is incomplete; keep it for later.
                let rest = lines.pop().unwrap_or_default().to_string();
                for line in lines {
                    self.log_line(vertex, *time, line.trim_end_matches('\r'));
                }
                self.pending.insert(vertex.clone(), rest);
            }
            Event::Completed {
                vertex,
                time,
                error,
                ..
            } => {
                self.flush_pending(vertex, *time);
                let n = self.number(vertex);
                self.switch_to(vertex);
                let secs = self
                    .started
                    .get(vertex)
                    .map(|s| time.saturating_sub(*s) as f64 / 1e9)
                    .unwrap_or(0.0);
                match error {
                    None => {
                        let _ = writeln!(self.out, "#{n} DONE {secs:.1}s");
                    }
                    Some(e) => {
                        let _ = writeln!(self.out, "#{n} ERROR: {e}");
                    }
                }
            }
        }
        let _ = self.out.flush();
    }

    fn finish(&mut self) {
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_solver::Stream;

    #[test]
    fn prints_buildkit_plain_format() {
        let a = Digest::of_bytes(b"a");
        let b = Digest::of_bytes(b"b");
        let mut p = PlainPrinter::new(Vec::new());
        let s = 1_000_000_000;
        p.event(&Event::Cached {
            vertex: b.clone(),
            name: "[1/2] FROM busybox".into(),
        });
        p.event(&Event::Started {
            vertex: a.clone(),
            name: "[2/2] RUN make".into(),
            time: s,
        });
        p.event(&Event::Log {
            vertex: a.clone(),
            stream: Stream::Stdout,
            data: "comp".into(),
            time: s + 153_000_000,
        });
        p.event(&Event::Log {
            vertex: a.clone(),
            stream: Stream::Stdout,
            data: "iling\nlast".into(),
            time: s + 153_000_000,
        });
        p.event(&Event::Completed {
            vertex: a.clone(),
            name: "[2/2] RUN make".into(),
            time: s + 1_200_000_000,
            error: None,
        });
        let out = String::from_utf8(p.into_inner()).unwrap();
        assert_eq!(
            out,
            "#1 [1/2] FROM busybox\n#1 CACHED\n\n#2 [2/2] RUN make\n#2 0.153 compiling\n#2 1.200 last\n#2 DONE 1.2s\n"
        );
    }
}
