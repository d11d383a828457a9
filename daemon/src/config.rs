//! The daemon's config file (`/etc/kiln/kiln.toml` by default; a missing default file
//! means defaults). Re-read on SIGHUP.
//!
//! ```toml
//! group = "kiln"                       # socket group (mode 0660); optional
//! metrics_address = "127.0.0.1:9323"   # Prometheus /metrics; optional
//! shutdown_timeout = "30s"             # SIGTERM: how long running builds may finish
//! [gc]
//! keep_storage = "10GB"                # build cache beyond this disk use is pruned, LRU first
//! keep_duration = "48h"                # build cache unused this long is pruned
//! interval = "10m"                     # how often the policy is applied
//! [gc.images]
//! keep_duration = "168h"               # dangling (untagged, unused) images older than this go
//! [gc.cache_mounts]
//! keep_storage = "5GB"                 # beyond this, RUN --mount=type=cache dirs not in use go
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
    images: Option<RawImages>,
    cache_mounts: Option<RawCacheMounts>,
}

/// `[gc.images]`: only an age; images have no last-use time to rank them by size.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImages {
    keep_duration: Option<String>,
}

/// `[gc.cache_mounts]`: only a size; the store keeps no last-use time per cache mount.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCacheMounts {
    keep_storage: Option<toml::Value>,
}

/// The GC policy the daemon applies every `interval`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcPolicy {
    /// Build cache: the most recently used is kept up to this many bytes of real disk
    /// use (blobs and snapshots that no image shares).
    pub keep_storage: Option<u64>,
    /// Build cache unused for longer than this goes.
    pub keep_duration: Option<Duration>,
    /// Dangling images (no name, no container) added longer ago than this go.
    pub images_keep_duration: Option<Duration>,
    /// When cache mounts use more than this, those no running step holds go.
    pub cache_mounts_keep_storage: Option<u64>,
    pub interval: Duration,
}

impl Default for GcPolicy {
    fn default() -> Self {
        GcPolicy {
            keep_storage: None,
            keep_duration: None,
            images_keep_duration: None,
            cache_mounts_keep_storage: None,
            interval: Duration::from_secs(600),
        }
    }
}

impl GcPolicy {
    /// Whether there is anything to apply.
    pub fn is_active(&self) -> bool {
        self.keep_storage.is_some()
            || self.keep_duration.is_some()
            || self.images_keep_duration.is_some()
            || self.cache_mounts_keep_storage.is_some()
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
        cfg.gc.keep_storage = size_value(raw.gc.keep_storage, "gc.keep_storage")?;
        if let Some(d) = raw.gc.keep_duration {
            cfg.gc.keep_duration =
                Some(parse_duration(&d).map_err(|e| format!("gc.keep_duration: {e}"))?);
        }
        if let Some(d) = raw.gc.images.and_then(|i| i.keep_duration) {
            cfg.gc.images_keep_duration =
                Some(parse_duration(&d).map_err(|e| format!("gc.images.keep_duration: {e}"))?);
        }
        if let Some(m) = raw.gc.cache_mounts {
            cfg.gc.cache_mounts_keep_storage =
                size_value(m.keep_storage, "gc.cache_mounts.keep_storage")?;
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

/// A size given as bytes (an integer) or text like `"10GB"`.
fn size_value(v: Option<toml::Value>, key: &str) -> Result<Option<u64>, String> {
    match v {
        None => Ok(None),
        Some(toml::Value::Integer(n)) => u64::try_from(n)
            .map(Some)
            .map_err(|_| format!("{key}: must not be negative")),
        Some(toml::Value::String(s)) => parse_size(&s).map(Some).map_err(|e| format!("{key}: {e}")),
        Some(other) => Err(format!(
            "{key}: expected bytes or a size like \"10GB\", found {other}"
        )),
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
        let typed = Config::parse(
            "[gc.images]\nkeep_duration = \"2h\"\n[gc.cache_mounts]\nkeep_storage = \"1MiB\"\n",
        )
        .unwrap();
        assert_eq!(
            typed.gc.images_keep_duration,
            Some(Duration::from_secs(7200))
        );
        assert_eq!(typed.gc.cache_mounts_keep_storage, Some(1024 * 1024));
        assert_eq!(typed.gc.keep_storage, None);
        assert!(typed.gc.is_active());
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
        assert!(Config::parse("[gc.images]\nkeep_storage = \"1GB\"")
            .unwrap_err()
            .contains("unknown field"));
        assert!(Config::parse("[gc.cache_mounts]\nkeep_duration = \"1h\"")
            .unwrap_err()
            .contains("unknown field"));
        assert!(Config::parse("[gc.cache_mounts]\nkeep_storage = true")
            .unwrap_err()
            .contains("gc.cache_mounts.keep_storage"));
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
        assert_eq!(
            c.gc.images_keep_duration,
            Some(Duration::from_secs(168 * 3600))
        );
        assert_eq!(c.gc.cache_mounts_keep_storage, Some(5_000_000_000));
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
