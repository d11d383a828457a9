//! Showing a build's progress: BuildKit's `plain` format, one JSON event per line
//! (`rawjson`), or the live `tty` view. All read the solver's [`Event`]s.

mod context;
mod plain;
mod tty;

use std::io::{IsTerminal, Write};

use indicatif::ProgressDrawTarget;
use kiln_solver::Event;

pub use plain::PlainPrinter;
pub use tty::TtyPrinter;

/// `--progress` values, as BuildKit names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    Auto,
    Tty,
    Plain,
    Rawjson,
    Quiet,
}

/// Something that shows events as they come.
pub trait Printer: Send {
    fn event(&mut self, event: &Event);
    /// Called once at the end; prints any summary.
    fn finish(&mut self) {}
}

/// One JSON object per event and line, for tools.
pub struct JsonPrinter<W: Write + Send> {
    out: W,
}

impl<W: Write + Send> Printer for JsonPrinter<W> {
    fn event(&mut self, event: &Event) {
        if let Ok(line) = serde_json::to_string(event) {
            let _ = writeln!(self.out, "{line}");
        }
    }
}

struct Quiet;

impl Printer for Quiet {
    fn event(&mut self, _: &Event) {}
}

/// The printer for `mode`, writing to stderr as BuildKit does (stdout stays free for `-q`
/// ids and `--output -`).
pub fn printer(mode: ProgressMode) -> Box<dyn Printer> {
    match mode {
        ProgressMode::Quiet => Box::new(Quiet),
        ProgressMode::Rawjson => Box::new(JsonPrinter {
            out: std::io::stderr(),
        }),
        ProgressMode::Plain => one_context(PlainPrinter::new(std::io::stderr())),
        ProgressMode::Tty => one_context(TtyPrinter::new(ProgressDrawTarget::stderr())),
        ProgressMode::Auto if std::io::stderr().is_terminal() => {
            one_context(TtyPrinter::new(ProgressDrawTarget::stderr()))
        }
        ProgressMode::Auto => one_context(PlainPrinter::new(std::io::stderr())),
    }
}

/// People see the build context load once per build (`context`); tools reading rawjson
/// get every source's events.
fn one_context(p: impl Printer + 'static) -> Box<dyn Printer> {
    Box::new(context::OneContextStep::new(Box::new(p)))
}
