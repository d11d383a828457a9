//! The daemon's counters, rendered in Prometheus' text format for `/metrics` and read
//! back by `GET /v1/info`. Lock-free counters; the histogram is a small fixed set of
//! buckets behind a mutex (one update per build).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use kiln_solver::Event;

/// Build duration histogram bucket bounds, in seconds.
const BUCKETS: [f64; 10] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 120.0];

#[derive(Debug, Default)]
pub struct Metrics {
    pub builds_running: AtomicU64,
    pub builds_succeeded: AtomicU64,
    pub builds_failed: AtomicU64,
    pub steps_executed: AtomicU64,
    pub steps_cached: AtomicU64,
    pub steps_shared: AtomicU64,
    pub commands: AtomicU64,
    pub gc_runs: AtomicU64,
    pub gc_reclaimed_bytes: AtomicU64,
    pub store_size_bytes: AtomicU64,
    durations: Mutex<Histogram>,
}

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Metrics {
    /// Count what a build's progress event says about its steps.
    pub fn observe(&self, ev: &Event) {
        let c = match ev {
            Event::Started { .. } => &self.steps_executed,
            Event::Cached { .. } => &self.steps_cached,
            Event::Shared { .. } => &self.steps_shared,
            _ => return,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn build_finished(&self, ok: bool, seconds: f64) {
        let c = if ok {
            &self.builds_succeeded
        } else {
            &self.builds_failed
        };
        c.fetch_add(1, Ordering::Relaxed);
        let mut h = self.durations.lock().unwrap_or_else(|p| p.into_inner());
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.counts[i] += 1;
            }
        }
        h.sum += seconds;
        h.count += 1;
    }

    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }

    /// Cached (and shared) steps over all steps that were needed; 0 before any.
    pub fn hit_ratio(&self) -> f64 {
        let hits = Self::get(&self.steps_cached) + Self::get(&self.steps_shared);
        let all = hits + Self::get(&self.steps_executed);
        if all == 0 {
            0.0
        } else {
            hits as f64 / all as f64
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let g = Self::get;
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, f64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, v) in samples {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        };
        metric(
            "kiln_builds_total",
            "counter",
            "Builds finished, by result.",
            &[
                ("{result=\"success\"}", g(&self.builds_succeeded) as f64),
                ("{result=\"failure\"}", g(&self.builds_failed) as f64),
            ],
        );
        metric(
            "kiln_builds_running",
            "gauge",
            "Builds in progress.",
            &[("", g(&self.builds_running) as f64)],
        );
        metric(
            "kiln_build_steps_total",
            "counter",
            "Build steps by outcome: executed, cached, or shared with another build running it.",
            &[
                ("{outcome=\"executed\"}", g(&self.steps_executed) as f64),
                ("{outcome=\"cached\"}", g(&self.steps_cached) as f64),
                ("{outcome=\"shared\"}", g(&self.steps_shared) as f64),
            ],
        );
        metric(
            "kiln_cache_hit_ratio",
            "gauge",
            "Cached and shared steps over all steps since the daemon started.",
            &[("", self.hit_ratio())],
        );
        metric(
            "kiln_commands_total",
            "counter",
            "Commands forwarded to the daemon.",
            &[("", g(&self.commands) as f64)],
        );
        metric(
            "kiln_gc_runs_total",
            "counter",
            "Times the GC policy was applied.",
            &[("", g(&self.gc_runs) as f64)],
        );
        metric(
            "kiln_gc_reclaimed_bytes_total",
            "counter",
            "Bytes the GC policy reclaimed.",
            &[("", g(&self.gc_reclaimed_bytes) as f64)],
        );
        metric(
            "kiln_store_size_bytes",
            "gauge",
            "Disk used by the store (images and build cache), as of the last measurement.",
            &[("", g(&self.store_size_bytes) as f64)],
        );
        let h = self.durations.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(
            out,
            "# HELP kiln_build_duration_seconds Build duration.\n# TYPE kiln_build_duration_seconds histogram"
        );
        for (bound, count) in BUCKETS.iter().zip(h.counts) {
            let _ = writeln!(
                out,
                "kiln_build_duration_seconds_bucket{{le=\"{bound}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "kiln_build_duration_seconds_bucket{{le=\"+Inf\"}} {}\nkiln_build_duration_seconds_sum {}\nkiln_build_duration_seconds_count {}",
            h.count, h.sum, h.count
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_frontend::graph::Digest;

    #[test]
    fn counts_steps_and_renders_prometheus_text() {
        let m = Metrics::default();
        let v = Digest::of_bytes(b"v");
        m.observe(&Event::Started {
            vertex: v.clone(),
            name: "RUN x".into(),
            time: 0,
        });
        m.observe(&Event::Cached {
            vertex: v.clone(),
            name: "RUN y".into(),
        });
        m.observe(&Event::Shared {
            vertex: v.clone(),
            name: "RUN z".into(),
        });
        m.observe(&Event::Cached {
            vertex: v,
            name: "RUN w".into(),
        });
        m.build_finished(true, 0.03);
        m.build_finished(false, 2.0);
        assert!((m.hit_ratio() - 0.75).abs() < 1e-9);
        let text = m.render();
        assert!(
            text.contains("kiln_build_steps_total{outcome=\"executed\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("kiln_build_steps_total{outcome=\"cached\"} 2\n"));
        assert!(text.contains("kiln_builds_total{result=\"failure\"} 1\n"));
        assert!(text.contains("kiln_build_duration_seconds_bucket{le=\"0.05\"} 1\n"));
        assert!(text.contains("kiln_build_duration_seconds_bucket{le=\"5\"} 2\n"));
        assert!(text.contains("kiln_build_duration_seconds_count 2\n"));
        assert!(text.contains("kiln_cache_hit_ratio 0.75\n"));
    }
}
