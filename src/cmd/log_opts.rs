//! `--log-driver` and `--log-opt` for `run` and `create`.

use anyhow::Context;
use clap::Args;
use kiln_runtime::logs::LogConfig;

#[derive(Debug, Args, Clone, Default, PartialEq)]
pub struct LogFlags {
    /// Logging driver: json-file (default), local (json-file rotated at 20m x 5 by
    /// default) or none (no log; `kiln logs` cannot read it)
    #[arg(long = "log-driver", value_name = "DRIVER")]
    pub driver: Option<String>,
    /// Log driver option: max-size=10m, max-file=3 (rotation)
    #[arg(long = "log-opt", value_name = "KEY=VALUE", value_delimiter = ',')]
    pub opts: Vec<String>,
}

impl LogFlags {
    pub fn to_config(&self) -> anyhow::Result<LogConfig> {
        LogConfig::parse(self.driver.as_deref(), &self.opts).context("invalid logging options")
    }
}
