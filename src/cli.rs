//! The clap command tree and global options. Each subcommand's arguments live beside
//! its implementation in `cmd/<name>.rs`; this file only lists them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::cmd;

#[derive(Debug, Parser)]
#[command(
    name = "kiln",
    about = "Build container images from Dockerfiles, cache every step, and run containers",
    version = env!("CARGO_PKG_VERSION"),
    propagate_version = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Root directory of kiln's store
    #[arg(long, global = true, env = "KILN_ROOT", default_value = "/var/lib/kiln")]
    pub root: PathBuf,
    /// Log level: error, warn, info, debug or trace (or a tracing filter)
    #[arg(long, global = true, env = "KILN_LOG", default_value = "warn")]
    pub log_level: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show kiln's version information
    Version(cmd::version::VersionArgs),
}

pub fn init_logging(global: &GlobalArgs) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(&global.log_level).unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
