//! `kiln lint`: BuildKit's build checks on a Dockerfile. Exit status 0 with only
//! warnings, 1 when a check is an error (`# check=error=true`) or the Dockerfile cannot be
//! compiled, 125 when it does not parse.

use std::path::PathBuf;

use clap::Args;
use kiln_frontend::compile::{CompileOptions, NoImages};
use kiln_frontend::lint::lint;

use super::build::build_args;
use super::debug::{emit, read_dockerfile};
use crate::cli::GlobalArgs;

/// What `docker build --check` exits with when checks fail.
const CHECK_FAILED: i32 = 1;

#[derive(Debug, Args)]
pub struct LintArgs {
    /// The Dockerfile (`-` reads standard input)
    #[arg(short = 'f', long = "file", default_value = "Dockerfile")]
    pub file: PathBuf,
    /// Check only what this stage needs (default: every stage)
    #[arg(long)]
    pub target: Option<String>,
    /// A build argument, NAME=value (or NAME to take the value from the environment)
    #[arg(long = "build-arg", value_name = "NAME=value")]
    pub build_args: Vec<String>,
    /// Output format
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub format: String,
}

pub fn run(_global: &GlobalArgs, args: LintArgs) -> anyhow::Result<i32> {
    let (name, data) = read_dockerfile(&args.file)?;
    let opts = CompileOptions {
        build_args: build_args(&args.build_args),
        target: args.target.clone(),
        ..CompileOptions::default()
    };
    let report = lint(&name, &data, &opts, &NoImages)?;
    if args.format == "json" {
        emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&report.to_json())?
        ))?;
    } else {
        emit(&report.to_text())?;
    }
    Ok(if report.fails() { CHECK_FAILED } else { 0 })
}
