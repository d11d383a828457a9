//! `--log-driver` and `--log-opt`: which logging driver a container has and its rotation
//! options, as given (for `inspect`'s `HostConfig.LogConfig`) and as the writer uses them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum LogConfigError {
    #[error("unknown log driver {0:?}: kiln has json-file (the default), local and none")]
    Driver(String),
    #[error("invalid --log-opt {0:?}: use key=value, e.g. max-size=10m")]
    Syntax(String),
    #[error("unknown log opt {key:?} for the {driver} log driver: {supported}")]
    UnknownOpt {
        key: String,
        driver: &'static str,
        supported: &'static str,
    },
    #[error("invalid --log-opt max-size={0:?}: use a size such as 10m, 512k or 1g (bytes without a unit)")]
    MaxSize(String),
    #[error("invalid --log-opt max-file={0:?}: use a whole number of files, at least 1")]
    MaxFile(String),
}

/// The logging drivers kiln has. `local` keeps the json-file format with rotation on by
/// default (Docker's `local` defaults: 20 MiB per file, 5 files).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogDriver {
    #[default]
    JsonFile,
    Local,
    None,
}

impl LogDriver {
    pub fn name(self) -> &'static str {
        match self {
            LogDriver::JsonFile => "json-file",
            LogDriver::Local => "local",
            LogDriver::None => "none",
        }
    }

    /// Whether output is kept for `kiln logs`.
    pub fn keeps_file(self) -> bool {
        self != LogDriver::None
    }
}

/// A container's logging: the driver and its options as given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    pub driver: LogDriver,
    pub opts: BTreeMap<String, String>,
}

/// When the writer starts a new file and how many it keeps (the current one included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// No rotation without it.
    pub max_size: Option<u64>,
    pub max_file: u32,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            max_size: None,
            max_file: 1,
        }
    }
}

impl LogConfig {
    /// From `--log-driver` (None: the default) and `--log-opt key=value` values.
    pub fn parse(driver: Option<&str>, opts: &[String]) -> Result<Self, LogConfigError> {
        let driver = match driver.unwrap_or("json-file") {
            "json-file" => LogDriver::JsonFile,
            "local" => LogDriver::Local,
            "none" => LogDriver::None,
            other => return Err(LogConfigError::Driver(other.to_string())),
        };
        let mut map = BTreeMap::new();
        for o in opts {
            let (k, v) = o
                .split_once('=')
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| LogConfigError::Syntax(o.clone()))?;
            if driver == LogDriver::None || !matches!(k, "max-size" | "max-file") {
                return Err(LogConfigError::UnknownOpt {
                    key: k.to_string(),
                    driver: driver.name(),
                    supported: if driver == LogDriver::None {
                        "it takes no options"
                    } else {
                        "supported are max-size and max-file"
                    },
                });
            }
            map.insert(k.to_string(), v.to_string());
        }
        let cfg = LogConfig { driver, opts: map };
        cfg.try_rotation()?;
        Ok(cfg)
    }

    /// The rotation these options ask for (checked when parsed; a record edited by hand
    /// with bad values falls back to the driver's defaults).
    pub fn rotation(&self) -> Rotation {
        self.try_rotation().unwrap_or_else(|e| {
            tracing::warn!("container log options: {e}; using the driver's defaults");
            self.defaults()
        })
    }

    fn defaults(&self) -> Rotation {
        match self.driver {
            LogDriver::Local => Rotation {
                max_size: Some(20 << 20),
                max_file: 5,
            },
            _ => Rotation::default(),
        }
    }

    fn try_rotation(&self) -> Result<Rotation, LogConfigError> {
        let mut r = self.defaults();
        if let Some(s) = self.opts.get("max-size") {
            // Docker's -1 means unlimited.
            r.max_size = if s == "-1" {
                None
            } else {
                Some(parse_size(s).ok_or_else(|| LogConfigError::MaxSize(s.clone()))?)
            };
        }
        if let Some(n) = self.opts.get("max-file") {
            r.max_file = n
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| LogConfigError::MaxFile(n.clone()))?;
        }
        Ok(r)
    }
}

/// Docker's log sizes: bytes, or a number with k, m or g (binary units, optional "b").
fn parse_size(s: &str) -> Option<u64> {
    let lower = s.trim().to_ascii_lowercase();
    let digits = lower.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &lower[digits.len()..];
    let mult: u64 = match unit {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    let n: f64 = digits.parse().ok()?;
    let bytes = (n * mult as f64) as u64;
    (n.is_finite() && bytes > 0).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_drivers_and_rotation() {
        let d = LogConfig::parse(None, &[]).unwrap();
        assert_eq!(d.driver, LogDriver::JsonFile);
        assert_eq!(d.rotation(), Rotation::default());
        let j =
            LogConfig::parse(Some("json-file"), &opts(&["max-size=10m", "max-file=3"])).unwrap();
        assert_eq!(
            j.rotation(),
            Rotation {
                max_size: Some(10 << 20),
                max_file: 3
            }
        );
        assert_eq!(j.opts["max-size"], "10m");
        let l = LogConfig::parse(Some("local"), &[]).unwrap();
        assert_eq!(l.rotation().max_file, 5);
        assert!(!LogConfig::parse(Some("none"), &[])
            .unwrap()
            .driver
            .keeps_file());
    }

    #[test]
    fn refuses_bad_input() {
        let err = |d: Option<&str>, o: &[&str]| LogConfig::parse(d, &opts(o)).unwrap_err();
        assert!(matches!(
            err(Some("syslog"), &[]),
            LogConfigError::Driver(_)
        ));
        assert!(matches!(
            err(None, &["max-size"]),
            LogConfigError::Syntax(_)
        ));
        assert!(matches!(
            err(None, &["max-size=ten"]),
            LogConfigError::MaxSize(_)
        ));
        assert!(matches!(
            err(None, &["max-size=0"]),
            LogConfigError::MaxSize(_)
        ));
        assert!(matches!(
            err(None, &["max-file=0"]),
            LogConfigError::MaxFile(_)
        ));
        assert!(matches!(
            err(None, &["compress=true"]),
            LogConfigError::UnknownOpt { .. }
        ));
        assert!(matches!(
            err(Some("none"), &["max-size=1m"]),
            LogConfigError::UnknownOpt { .. }
        ));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("1k"), Some(1024));
        assert_eq!(parse_size("10MB"), Some(10 << 20));
        assert_eq!(parse_size("1.5g"), Some(3 << 29));
        assert_eq!(parse_size("1x"), None);
        assert_eq!(parse_size(""), None);
    }
}
