//! `kiln exec [-d] [-i] [-t] [-e] [-u] [-w] CONTAINER CMD…`: run a process in a running
//! container (kiln re-executed as the exec helper, which joins its namespaces and cgroups).

use anyhow::{bail, Context};
use clap::Args;
use kiln_runtime::config::merge_env;
use kiln_runtime::exec::{ExecConfig, EXEC_ARG0};
use kiln_runtime::{lifecycle, State};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use super::container_opts::{kiln_binary, open_store};
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Run in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Pass stdin to the process
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Give the process a pseudo-terminal
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Set an environment variable
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// User: name, uid, name:group or uid:gid
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    pub container: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub fn run(global: &GlobalArgs, args: ExecArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    let rec = lifecycle::find(&store, &args.container)?;
    if rec.state != State::Running || rec.pid <= 0 || !lifecycle::monitor_alive(&rec) {
        bail!("container {} is not running", rec.name);
    }
    let cfg = ExecConfig {
        pid: rec.pid,
        args: args.command.clone(),
        env: merge_env(&rec.config.env, &args.env),
        cwd: args.workdir.clone().or_else(|| rec.config.workdir.clone()),
        user: args.user.clone().or_else(|| rec.config.user.clone()),
        tty: args.tty,
        detach: args.detach,
        hostname: rec
            .config
            .hostname
            .clone()
            .unwrap_or_else(|| kiln_runtime::ids::short(&rec.id).to_string()),
    };
    let mut cmd = Command::new(kiln_binary()?);
    cmd.arg0(EXEC_ARG0)
        .arg(serde_json::to_string(&cfg)?)
        .env_clear()
        .stdin(if args.interactive && !args.detach {
            Stdio::inherit()
        } else {
            Stdio::null()
        });
    if args.detach {
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
    }
    let status = cmd.status().context("starting the exec helper")?;
    Ok(status.code().unwrap_or(125))
}
