//! Download progress of a remote cache hit, shown as log lines on the step that hit (as
//! BuildKit shows layer pulls): which cache, how many layers and bytes, and per layer a
//! line at each quarter, so a long import is visibly moving in plain and rawjson output.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use kiln_frontend::graph::Digest as VertexDigest;

use crate::local::Layer;
use crate::progress::{now_ns, Event, Progress, Stream};

/// The build's progress sink, set once the solve starts; shared by every clone of the
/// caches (the worker holds one, the command another).
#[derive(Clone, Default)]
pub struct ProgressSlot(Arc<Mutex<Option<Progress>>>);

impl ProgressSlot {
    /// Report to `progress` from now on; `None` drops the sink (and its channel sender).
    pub fn set(&self, progress: Option<Progress>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = progress;
    }

    /// A reporter for `vertex`, when anyone listens.
    pub fn for_step(&self, vertex: &VertexDigest) -> Option<HitReport> {
        let progress = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()?;
        Some(HitReport {
            progress,
            vertex: vertex.clone(),
        })
    }
}

/// Lines about one step's cache hit.
#[derive(Clone)]
pub struct HitReport {
    progress: Progress,
    vertex: VertexDigest,
}

/// Megabytes as BuildKit prints them (decimal, two places).
fn mb(bytes: u64) -> String {
    format!("{:.2}MB", bytes as f64 / 1e6)
}

impl HitReport {
    pub fn line(&self, text: &str) {
        self.progress.send(Event::Log {
            vertex: self.vertex.clone(),
            stream: Stream::Stderr,
            data: format!("{text}\n"),
            time: now_ns(),
        });
    }

    /// The opening line of a hit that downloads `missing` from `cache`.
    pub fn start(&self, cache: &str, missing: &[Layer]) {
        let total: u64 = missing.iter().map(|l| l.size).sum();
        self.line(&format!(
            "importing cache from {cache}: {} layer{} to download, {}",
            missing.len(),
            if missing.len() == 1 { "" } else { "s" },
            mb(total)
        ));
    }

    /// A byte counter for `layer` that prints at each quarter of it (and at the end).
    pub fn layer(&self, layer: &Layer) -> LayerReport {
        LayerReport {
            report: self.clone(),
            blob: layer.blob.to_string(),
            total: layer.size,
            quarter: AtomicU64::new(0),
        }
    }
}

pub struct LayerReport {
    report: HitReport,
    blob: String,
    total: u64,
    /// Quarters already printed, so concurrent or repeated counts print each once.
    quarter: AtomicU64,
}

impl LayerReport {
    /// `done` bytes of the layer have arrived.
    pub fn bytes(&self, done: u64) {
        let q = done.saturating_mul(4) / self.total.max(1);
        if q == 0 || self.quarter.fetch_max(q, Ordering::Relaxed) >= q {
            return;
        }
        let end = if done >= self.total { " done" } else { "" };
        self.report.line(&format!(
            "{} {} / {}{end}",
            self.blob,
            mb(done),
            mb(self.total)
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_cache::Digest;

    #[test]
    fn prints_each_quarter_once_and_the_end() {
        let (progress, mut rx) = Progress::channel();
        let slot = ProgressSlot::default();
        let vertex = VertexDigest::of_bytes(b"step");
        assert!(slot.for_step(&vertex).is_none(), "nobody listens yet");
        slot.set(Some(progress));
        let report = slot.for_step(&vertex).unwrap();
        let layer = Layer {
            diff_id: Digest::of_bytes(b"d"),
            blob: Digest::of_bytes(b"b"),
            size: 8_000_000,
            media_type: crate::local::chain::LAYER_MEDIA_TYPE.into(),
            created: None,
        };
        report.start("reg/cache", std::slice::from_ref(&layer));
        let l = report.layer(&layer);
        for done in [100, 2_000_000, 2_000_001, 5_000_000, 8_000_000, 8_000_000] {
            l.bytes(done);
        }
        drop((report, l, slot));
        let mut lines = Vec::new();
        while let Ok(Event::Log {
            data, vertex: v, ..
        }) = rx.try_recv()
        {
            assert_eq!(v, vertex);
            lines.push(data);
        }
        let blob = layer.blob.to_string();
        assert_eq!(
            lines,
            vec![
                "importing cache from reg/cache: 1 layer to download, 8.00MB\n".to_string(),
                format!("{blob} 2.00MB / 8.00MB\n"),
                format!("{blob} 5.00MB / 8.00MB\n"),
                format!("{blob} 8.00MB / 8.00MB done\n"),
            ]
        );
    }
}
