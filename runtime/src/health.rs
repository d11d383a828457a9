//! Health checks (`--health-*` and the image's HEALTHCHECK): the monitor runs the test in the
//! running container through the exec helper every interval and keeps Docker's health state
//! (starting / healthy / unhealthy, failing streak, the last five results).

use crate::exec::{ExecConfig, EXEC_ARG0};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};

/// Docker's healthcheck object (durations in nanoseconds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthConfig {
    /// `["NONE"]`, `["CMD", args…]` or `["CMD-SHELL", command]`.
    pub test: Vec<String>,
    pub interval: u64,
    pub timeout: u64,
    pub start_period: u64,
    pub retries: u32,
}

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: u32 = 3;
/// Results kept in the state, as Docker.
const KEEP_RESULTS: usize = 5;
/// Output kept per result.
const MAX_OUTPUT: usize = 4096;

impl HealthConfig {
    /// The command to run, or None when the check is disabled (`NONE` or empty).
    pub fn argv(&self) -> Option<Vec<String>> {
        match self.test.split_first() {
            Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => Some(rest.to_vec()),
            Some((kind, rest)) if kind == "CMD-SHELL" && !rest.is_empty() => {
                Some(vec!["/bin/sh".into(), "-c".into(), rest.join(" ")])
            }
            _ => None,
        }
    }

    fn dur(ns: u64, default: Duration) -> Duration {
        if ns == 0 {
            default
        } else {
            Duration::from_nanos(ns)
        }
    }

    pub fn interval(&self) -> Duration {
        Self::dur(self.interval, DEFAULT_INTERVAL)
    }

    pub fn timeout(&self) -> Duration {
        Self::dur(self.timeout, DEFAULT_TIMEOUT)
    }

    pub fn start_period(&self) -> Duration {
        Duration::from_nanos(self.start_period)
    }

    pub fn retries(&self) -> u32 {
        if self.retries == 0 {
            DEFAULT_RETRIES
        } else {
            self.retries
        }
    }

    /// The image's `Healthcheck` (from the config's extra fields), overridden field by
    /// field by the command line's.
    pub fn merge(image: Option<HealthConfig>, flags: &HealthConfig) -> HealthConfig {
        let mut h = image.unwrap_or_default();
        if !flags.test.is_empty() {
            h.test = flags.test.clone();
        }
        for (dst, src) in [
            (&mut h.interval, flags.interval),
            (&mut h.timeout, flags.timeout),
            (&mut h.start_period, flags.start_period),
        ] {
            if src != 0 {
                *dst = src;
            }
        }
        if flags.retries != 0 {
            h.retries = flags.retries;
        }
        h
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthResult {
    pub start: String,
    pub end: String,
    pub exit_code: i32,
    pub output: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthState {
    /// `starting`, `healthy` or `unhealthy`.
    pub status: String,
    pub failing_streak: u32,
    pub log: Vec<HealthResult>,
}

impl HealthState {
    pub fn starting() -> Self {
        HealthState {
            status: "starting".into(),
            ..Default::default()
        }
    }

    /// Docker's transitions: success makes it healthy; failures after the start period
    /// count, and `retries` of them in a row make it unhealthy.
    pub fn record(&mut self, result: HealthResult, in_start_period: bool, retries: u32) {
        if result.exit_code == 0 {
            self.status = "healthy".into();
            self.failing_streak = 0;
        } else if !in_start_period {
            self.failing_streak += 1;
            if self.failing_streak >= retries {
                self.status = "unhealthy".into();
            }
        }
        self.log.push(result);
        let extra = self.log.len().saturating_sub(KEEP_RESULTS);
        self.log.drain(..extra);
    }
}

/// Runs one check in the container whose init is `pid` (kiln's exec helper, so it joins the
/// container exactly as `kiln exec` does). A timeout counts as a failure.
pub async fn run_check(
    kiln: &std::path::Path,
    base: &ExecConfig,
    argv: Vec<String>,
    timeout: Duration,
) -> HealthResult {
    let start = crate::timefmt::format_nanos(SystemTime::now());
    let cfg = ExecConfig {
        args: argv,
        tty: false,
        detach: false,
        ..base.clone()
    };
    let json = serde_json::to_string(&cfg).unwrap_or_default();
    let mut cmd = tokio::process::Command::new(kiln);
    cmd.arg0(EXEC_ARG0)
        .arg(json)
        .env_clear()
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let (exit_code, mut output) = match tokio::time::timeout(timeout, cmd.output()).await {
        Ok(Ok(out)) => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            (out.status.code().unwrap_or(-1), text)
        }
        Ok(Err(e)) => (-1, format!("starting the health check: {e}")),
        Err(_) => (-1, format!("Health check exceeded timeout ({timeout:?})")),
    };
    if output.len() > MAX_OUTPUT {
        let mut cut = MAX_OUTPUT;
        while !output.is_char_boundary(cut) {
            cut -= 1;
        }
        output.truncate(cut);
    }
    HealthResult {
        start,
        end: crate::timefmt::format_nanos(SystemTime::now()),
        exit_code,
        output,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(code: i32) -> HealthResult {
        HealthResult {
            exit_code: code,
            ..Default::default()
        }
    }

    #[test]
    fn argv_forms() {
        let h = |t: &[&str]| HealthConfig {
            test: t.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        assert_eq!(h(&["CMD", "true"]).argv(), Some(vec!["true".to_string()]));
        assert_eq!(h(&["CMD-SHELL", "exit 1"]).argv().unwrap()[2], "exit 1");
        assert_eq!(h(&["NONE"]).argv(), None);
        assert_eq!(h(&[]).argv(), None);
    }

    #[test]
    fn transitions_as_docker() {
        let mut s = HealthState::starting();
        s.record(result(1), true, 2);
        assert_eq!((s.status.as_str(), s.failing_streak), ("starting", 0));
        s.record(result(1), false, 2);
        assert_eq!(s.status, "starting");
        s.record(result(1), false, 2);
        assert_eq!((s.status.as_str(), s.failing_streak), ("unhealthy", 2));
        s.record(result(0), false, 2);
        assert_eq!((s.status.as_str(), s.failing_streak), ("healthy", 0));
        for _ in 0..10 {
            s.record(result(0), false, 2);
        }
        assert_eq!(s.log.len(), KEEP_RESULTS);
    }

    #[test]
    fn merge_prefers_flags() {
        let image = HealthConfig {
            test: vec!["CMD".into(), "a".into()],
            interval: 5,
            retries: 7,
            ..Default::default()
        };
        let flags = HealthConfig {
            interval: 9,
            ..Default::default()
        };
        let m = HealthConfig::merge(Some(image), &flags);
        assert_eq!((m.test[1].as_str(), m.interval, m.retries), ("a", 9, 7));
    }
}
