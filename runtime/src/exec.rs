//! `exec`: run another process in a running container. kiln re-executes itself with
//! argv[0] = [`EXEC_ARG0`] (single-threaded, so `setns` into the pid namespace and `fork` are
//! safe); the helper joins the container's cgroups and namespaces (through its init's
//! `/proc/<pid>/ns/*`), forks into the container's pid namespace, takes the user, working
//! directory, seccomp profile and capabilities a container process gets, and execs. With a
//! tty it relays between its own stdio and a pseudo-terminal.

mod relay;
mod setup;

use serde::{Deserialize, Serialize};
use std::path::Path;

pub const EXEC_ARG0: &str = "kiln-container-exec";

#[derive(Debug, thiserror::Error)]
pub enum ExecIntoError {
    #[error("exec config: {0}")]
    Config(String),
    #[error("{what}: {source}")]
    Sys {
        what: String,
        #[source]
        source: nix::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

impl ExecIntoError {
    pub(crate) fn sys(what: impl Into<String>) -> impl FnOnce(nix::Error) -> ExecIntoError {
        let what = what.into();
        move |source| ExecIntoError::Sys { what, source }
    }
}

/// What to run, as passed from the CLI to the helper (JSON in argv[1]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecConfig {
    /// The container's init in the host's pid namespace.
    pub pid: i32,
    pub args: Vec<String>,
    /// The container's environment with `-e` applied.
    pub env: Vec<String>,
    pub cwd: Option<String>,
    pub user: Option<String>,
    pub tty: bool,
    /// Do not wait: start the process and return.
    pub detach: bool,
    pub hostname: String,
}

/// Call first in `main`: when argv[0] is [`EXEC_ARG0`], act as the exec helper and exit
/// with the process's exit code (126/127 when it cannot be run).
pub fn maybe_run() {
    let mut args = std::env::args_os();
    let is_exec = args
        .next()
        .map(|a0| Path::new(&a0).file_name() == Some(EXEC_ARG0.as_ref()))
        .unwrap_or(false);
    if !is_exec {
        return;
    }
    let cfg: Result<ExecConfig, _> = args
        .next()
        .ok_or_else(|| ExecIntoError::Config("missing argument".into()))
        .and_then(|a| {
            serde_json::from_str(&a.to_string_lossy())
                .map_err(|e| ExecIntoError::Config(e.to_string()))
        });
    let code = match cfg.and_then(|c| setup::run(&c)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kiln exec: {e}");
            125
        }
    };
    std::process::exit(code);
}

/// What an exec'ed process inherits from the container's init `pid`: whether it runs under
/// a seccomp filter, and its capability bounding set (the container's capabilities, as
/// `--cap-add`/`--cap-drop`/`--privileged` made them); `None` when unreadable.
pub(crate) fn container_security(pid: i32) -> (bool, Option<caps::CapsHashSet>) {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return (true, None);
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
    };
    let filtered = field("Seccomp:") != Some("0");
    let caps = field("CapBnd:")
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .map(|bits| {
            caps::all()
                .into_iter()
                .filter(|c| c.index() < 64 && bits & (1u64 << c.index()) != 0)
                .collect()
        });
    (filtered, caps)
}
