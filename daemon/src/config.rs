//! The daemon's config file (`/etc/kiln/kiln.toml` by default; a missing default file
//! means defaults). Re-read on SIGHUP.
//!
//! ```toml
//! group = "kiln"                       # socket group (mode 0660); optional
//! metrics_address = "127.0.0.1:9323"   # Prometheus /metrics; optional
//! shutdown_timeout = "30s"             # SIGTERM: how long running builds may finish
//! [gc]
//! keep_storage = "10GB"                # build cache beyond this is pruned, oldest first
//! keep_duration = "48h"                # cache unused this long is pruned
//! interval = "10m"                     # how often the policy is applied
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Where `kiln daemon` reads its config when `--config` is not given.
pub const DEFAULT_CONFIG: &str = "/etc/kiln/kiln.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading the daemon config {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("daemon config {path}: {message}")]
    Parse { path: PathBuf, message: String },
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    group: Option<String>,
    metrics_address: Option<SocketAddr>,
    shutdown_timeout: Option<String>,
    #[serde(default)]
    gc: RawGc,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGc {
    keep_storage: Option<toml::Value>,
    keep_duration: Option<String>,
    interval: Option<String>,
}

/// The GC policy the daemon applies every `interval`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcPolicy {
    pub keep_storage: Option<u64>,
    pub keep_duration: Option<Duration>,
    pub interval: Duration,
}

impl Default for GcPolicy {
    fn default() -> Self {
        GcPolicy {
            keep_storage: None,
            keep_duration: None,
            interval: Duration::from_secs(600),
        }
    }
}

impl GcPolicy {
    /// Whether there is anything to apply.
    pub fn is_active(&self) -> bool {
        self.keep_storage.is_some() || self.keep_duration.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub group: Option<String>,
    pub metrics_address: Option<SocketAddr>,
    pub shutdown_timeout: Duration,
    pub gc: GcPolicy,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            group: None,
            metrics_address: None,
            shutdown_timeout: Duration::from_secs(30),
            gc: GcPolicy::default(),
        }
    }
}

impl Config {
    /// Read `path`; a missing file is the defaults only when `optional` (the default path).
    pub fn load(path: &Path, optional: bool) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if optional && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Config::default())
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        Config::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })
    }

    pub fn parse(text: &str) -> Result<Config, String> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut cfg = Config {
            group: raw.group,
            metrics_address: raw.metrics_address,
            ..Config::default()
        };
        if let Some(t) = raw.shutdown_timeout {
            cfg.shutdown_timeout =
                parse_duration(&t).map_err(|e| format!("shutdown_timeout: {e}"))?;
        }
        cfg.gc.keep_storage = match raw.gc.keep_storage {
            None => None,
            Some(toml::Value::Integer(n)) => {
                Some(u64::try_from(n).map_err(|_| "gc.keep_storage: must not be negative")?)
            }
            Some(toml::Value::String(s)) => {
                Some(parse_size(&s).map_err(|e| format!("gc.keep_storage: {e}"))?)
            }
            Some(other) => {
                return Err(format!(
                    "gc.keep_storage: expected bytes or a size like \"10GB\", found {other}"
                ))
            }
        };
        if let Some(d) = raw.gc.keep_duration {
            cfg.gc.keep_duration =
                Some(parse_duration(&d).map_err(|e| format!("gc.keep_duration: {e}"))?);
        }
        if let Some(d) = raw.gc.interval {
            let i = parse_duration(&d).map_err(|e| format!("gc.interval: {e}"))?;
            if i.is_zero() {
                return Err("gc.interval: must be more than 0s".into());
            }
            cfg.gc.interval = i;
        }
        Ok(cfg)
    }
}

/// `10GB`, `512MiB`, `1024` (bytes). Decimal and binary units, as Docker's flags take them.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 10GB, 512MiB)"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "{s:?}: unknown unit {other:?} (use B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)"
            ))
        }
    };
    Ok((n * mult) as u64)
}

/// `90s`, `10m`, `48h`, `7d`, or combinations like `1h30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let mut total = 0u64;
    let mut num = String::new();
    let bad = || format!("{s:?} is not a duration (e.g. 90s, 10m, 48h, 7d)");
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().map_err(|_| bad())?;
        num.clear();
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return Err(bad()),
        };
        total = total.saturating_add(n.saturating_mul(unit));
    }
    if !num.is_empty() || s.trim().is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_config() {
        let c = Config::parse(
            "group = \"kiln\"\nmetrics_address = \"127.0.0.1:9323\"\nshutdown_timeout = \"5s\"\n[gc]\nkeep_storage = \"2GB\"\nkeep_duration = \"1h30m\"\ninterval = \"30s\"\n",
        )
        .unwrap();
        assert_eq!(c.group.as_deref(), Some("kiln"));
        assert_eq!(c.metrics_address, Some("127.0.0.1:9323".parse().unwrap()));
        assert_eq!(c.shutdown_timeout, Duration::from_secs(5));
        assert_eq!(c.gc.keep_storage, Some(2_000_000_000));
        assert_eq!(c.gc.keep_duration, Some(Duration::from_secs(5400)));
        assert_eq!(c.gc.interval, Duration::from_secs(30));
        assert!(c.gc.is_active());
        assert_eq!(
            Config::parse("[gc]\nkeep_storage = 1024")
                .unwrap()
                .gc
                .keep_storage,
            Some(1024)
        );
    }

    #[test]
    fn rejects_what_it_does_not_understand() {
        assert!(Config::parse("gc_policy = 1")
            .unwrap_err()
            .contains("unknown field"));
        assert!(Config::parse("[gc]\nkeep_storage = \"10XB\"").is_err());
        assert!(Config::parse("[gc]\ninterval = \"0s\"").is_err());
        assert!(Config::parse("[gc]\nkeep_duration = \"5\"").is_err());
        assert!(Config::parse("[gc]\nkeep_storage = -1").is_err());
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }

    #[test]
    fn a_missing_default_file_is_the_defaults_but_a_named_one_is_an_error() {
        let p = Path::new("/nonexistent/kiln.toml");
        assert_eq!(Config::load(p, true).unwrap(), Config::default());
        assert!(matches!(
            Config::load(p, false),
            Err(ConfigError::Read { .. })
        ));
    }

    #[test]
    fn the_example_config_in_contrib_parses() {
        let c = Config::parse(include_str!("../../contrib/kiln.toml")).unwrap();
        assert_eq!(c.gc.keep_storage, Some(20_000_000_000));
        assert_eq!(c.gc.keep_duration, Some(Duration::from_secs(168 * 3600)));
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("512MiB").unwrap(), 512 * 1024 * 1024);
        assert_eq!(parse_size("1.5kb").unwrap(), 1500);
        assert_eq!(
            parse_duration("7d").unwrap(),
            Duration::from_secs(7 * 86400)
        );
        assert!(parse_duration("").is_err());
        assert!(parse_duration("h").is_err());
    }
}
