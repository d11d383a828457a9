//! The monitor's own log: a minimal `tracing` subscriber (no extra dependency) writing
//! timestamped lines to stderr, which the starter points at `monitor.log`.

use crate::timefmt::format_nanos;
use std::time::SystemTime;

/// A minimal `tracing` subscriber for the monitor (no extra dependency): `LEVEL message`
/// lines with a timestamp, at or above the configured level.
pub(super) struct MonitorLogger {
    max: tracing::Level,
}

impl MonitorLogger {
    pub(super) fn new(level: &str) -> Self {
        MonitorLogger {
            max: level.parse().unwrap_or(tracing::Level::INFO),
        }
    }
}

struct FieldWriter(String);

impl tracing::field::Visit for FieldWriter {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0.push_str(&format!(" {value:?}"));
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}

impl tracing::Subscriber for MonitorLogger {
    fn enabled(&self, m: &tracing::Metadata<'_>) -> bool {
        *m.level() <= self.max
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, e: &tracing::Event<'_>) {
        let mut w = FieldWriter(String::new());
        e.record(&mut w);
        eprintln!(
            "{} {}{}",
            format_nanos(SystemTime::now()),
            e.metadata().level(),
            w.0
        );
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
