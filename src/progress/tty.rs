//! The live view on a terminal (`--progress tty`, and `auto` on a terminal): one spinner
//! line per running step with its timer and its latest output line; a step collapses into
//! one `DONE`/`CACHED`/`ERROR` line when it ends.

use std::collections::HashMap;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use kiln_frontend::graph::Digest;
use kiln_solver::Event;

use super::Printer;

/// Longest output excerpt shown on a step's line.
const MAX_MESSAGE: usize = 100;

pub struct TtyPrinter {
    multi: MultiProgress,
    bars: HashMap<Digest, ProgressBar>,
    numbers: HashMap<Digest, usize>,
    started: HashMap<Digest, u64>,
    style: ProgressStyle,
}

impl TtyPrinter {
    pub fn new(target: ProgressDrawTarget) -> Self {
        let style = ProgressStyle::with_template("{spinner} {prefix} {elapsed:>4} {wide_msg:.dim}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        TtyPrinter {
            multi: MultiProgress::with_draw_target(target),
            bars: HashMap::new(),
            numbers: HashMap::new(),
            started: HashMap::new(),
            style,
        }
    }

    fn number(&mut self, vertex: &Digest) -> usize {
        let next = self.numbers.len() + 1;
        *self.numbers.entry(vertex.clone()).or_insert(next)
    }

    /// A finished line above the live bars (indicatif drops it when drawing is hidden).
    fn line(&self, text: String) {
        if self.multi.is_hidden() {
            return;
        }
        let _ = self.multi.println(text);
    }
}

/// The last complete-looking line of a log chunk, shortened for one terminal line.
fn last_line(data: &str) -> Option<String> {
    let line = data
        .split(['\n', '\r'])
        .map(str::trim)
        .rfind(|l| !l.is_empty())?;
    Some(line.chars().take(MAX_MESSAGE).collect())
}

impl Printer for TtyPrinter {
    fn event(&mut self, event: &Event) {
        match event {
            Event::Started { vertex, name, time } => {
                let n = self.number(vertex);
                self.started.insert(vertex.clone(), *time);
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(self.style.clone());
                bar.set_prefix(format!("#{n} {name}"));
                bar.enable_steady_tick(Duration::from_millis(120));
                self.bars.insert(vertex.clone(), bar);
            }
            Event::Explained { vertex, reason } => {
                if let Some(bar) = self.bars.get(vertex) {
                    bar.set_message(format!("cache miss: {reason}"));
                }
            }
            Event::Log { vertex, data, .. } => {
                if let (Some(bar), Some(l)) = (self.bars.get(vertex), last_line(data)) {
                    bar.set_message(l);
                }
            }
            Event::Cached { vertex, name } => {
                let n = self.number(vertex);
                self.line(format!("#{n} CACHED {name}"));
            }
            Event::Shared { vertex, name } => {
                let n = self.number(vertex);
                self.line(format!("#{n} waiting for another build: {name}"));
            }
            Event::Completed {
                vertex,
                name,
                time,
                error,
            } => {
                let n = self.number(vertex);
                if let Some(bar) = self.bars.remove(vertex) {
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                }
                let secs = self
                    .started
                    .get(vertex)
                    .map(|s| time.saturating_sub(*s) as f64 / 1e9)
                    .unwrap_or(0.0);
                match error {
                    None => self.line(format!("#{n} DONE {secs:.1}s {name}")),
                    Some(e) => self.line(format!("#{n} ERROR {name}: {e}")),
                }
            }
        }
    }

    fn finish(&mut self) {
        for (_, bar) in self.bars.drain() {
            bar.finish_and_clear();
        }
        let _ = self.multi.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_the_latest_output_line() {
        assert_eq!(last_line("a\nb\n\n").as_deref(), Some("b"));
        assert_eq!(
            last_line("progress 10%\rprogress 20%").as_deref(),
            Some("progress 20%")
        );
        assert_eq!(last_line("\n\n"), None);
        assert_eq!(
            last_line(&"x".repeat(500)).map(|l| l.len()),
            Some(MAX_MESSAGE)
        );
    }

    #[test]
    fn a_step_lifecycle_leaves_no_live_bars() {
        let mut p = TtyPrinter::new(ProgressDrawTarget::hidden());
        let v = Digest::of_bytes(b"v");
        p.event(&Event::Started {
            vertex: v.clone(),
            name: "RUN make".into(),
            time: 1,
        });
        assert_eq!(p.bars.len(), 1);
        p.event(&Event::Completed {
            vertex: v.clone(),
            name: "RUN make".into(),
            time: 2,
            error: None,
        });
        assert!(p.bars.is_empty());
        assert_eq!(p.number(&v), 1);
        p.finish();
    }
}
