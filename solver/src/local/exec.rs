//! RUN: an Exec vertex in a container whose rootfs is an overlay of the input chain's
//! snapshots with a fresh upper dir; the upper dir becomes the step's layer.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use kiln_executor::{
    ContainerSpec, ExecError, Executor, NetworkMode as CNet, Rootfs, RunOptions, Stream as CStream,
};
use kiln_frontend::graph::{Exec, NetworkMode, RunSettings, SecurityMode};
use tokio::sync::mpsc;

use super::mount::MountError;
use super::run_mounts::{prepare, RunMountError};
use super::secrets::BuildSecrets;
use super::step_dir::{step_dir, StepDir};
use super::Output;
use crate::progress::Stream;
use crate::worker::{StepContext, WorkerError};
use std::sync::Arc;

/// Lines of output kept for the error message of a failed step.
const TAIL_LINES: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum ExecStepError {
    #[error(transparent)]
    Mount(#[from] MountError),
    #[error(transparent)]
    RunMount(#[from] RunMountError),
    #[error("creating {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("RUN {0} is not supported yet; remove it or make it optional (required=false)")]
    Unsupported(&'static str),
    #[error("--ulimit {0}: unknown limit; use one of core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack")]
    UnknownUlimit(String),
}

/// The build's `--add-host`, `--ulimit` and `--shm-size`, as the graph carries them.
fn apply_settings(spec: &mut ContainerSpec, s: &RunSettings) -> Result<(), ExecStepError> {
    use kiln_executor::{Rlimit, RlimitKind};
    for h in &s.extra_hosts {
        spec.extra_hosts.push((h.name.clone(), h.address.clone()));
    }
    for u in &s.ulimits {
        let kind = RlimitKind::from_docker_name(&u.name)
            .ok_or_else(|| ExecStepError::UnknownUlimit(u.name.clone()))?;
        spec.limits.rlimits.retain(|r| r.kind != kind);
        spec.limits.rlimits.push(Rlimit {
            kind,
            soft: u.soft,
            hard: u.hard,
        });
    }
    if let Some(size) = s.shm_size {
        spec.shm_size = Some(size);
    }
    Ok(())
}

/// What an Exec step needs besides its vertex.
pub struct ExecInput<'a> {
    pub store_root: &'a Path,
    /// Bottom-first lower dirs of the root filesystem (input 0).
    pub lower: Vec<PathBuf>,
    /// Lower dirs of each input (for bind mounts), or the context dir.
    pub inputs: &'a [Output],
    pub input_lowers: Vec<Option<Vec<PathBuf>>>,
    pub proxy_env: &'a [String],
    /// Secrets, SSH agents and the failure shell of the build.
    pub extras: &'a RunExtras,
}

/// What a build adds to its RUN steps beyond the graph: the secrets and SSH agents the
/// client gave, and what to do with a failed command's container before it goes.
#[derive(Clone, Default)]
pub struct RunExtras {
    pub secrets: Arc<BuildSecrets>,
    pub on_failure: Option<Arc<dyn FailureShell>>,
}

/// Opens an interactive session in the container of a failed RUN (`--on-error=shell`):
/// `spec` is that container — its rootfs as the command left it, its env, cwd, user and
/// mounts (still in place) — with the shell as its process.
pub trait FailureShell: Send + Sync {
    fn open<'a>(
        &'a self,
        spec: ContainerSpec,
        step: &'a str,
        exit_code: i32,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;
}

/// A finished RUN: its upper dir (kept alive by `dir`) to diff into a layer.
pub struct ExecResult {
    _dir: StepDir,
    pub upper: PathBuf,
}

fn mkdir(p: &Path) -> Result<(), ExecStepError> {
    std::fs::create_dir_all(p).map_err(|source| ExecStepError::Io {
        path: p.to_path_buf(),
        source,
    })
}

fn unique_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "kiln-build-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub async fn run_exec(
    executor: &Executor,
    exec: &Exec,
    input: ExecInput<'_>,
    ctx: &StepContext,
) -> Result<ExecResult, WorkerError> {
    let werr = |e: ExecStepError| WorkerError::with_source(e.to_string(), e);
    if exec.security == SecurityMode::Insecure {
        // BuildKit needs the security.insecure entitlement for this; kiln has none yet.
        return Err(werr(ExecStepError::Unsupported("--security=insecure")));
    }
    let dir = step_dir(input.store_root).map_err(|e| werr(e.into()))?;
    let upper = dir.path().join("upper");
    let work = dir.path().join("work");
    let empty = dir.path().join("empty");
    for d in [&upper, &work, &empty] {
        mkdir(d).map_err(werr)?;
    }
    let lower = if input.lower.is_empty() {
        vec![empty]
    } else {
        input.lower.clone()
    };
    let mut spec = ContainerSpec::new(
        unique_id(),
        Rootfs::Overlay {
            lower,
            upper: upper.clone(),
            work,
        },
        exec.args.clone(),
    );
    let mut env = exec.env.clone();
    for kv in input.proxy_env {
        let key = kv.split('=').next().unwrap_or_default();
        if !env.iter().any(|e| e.split('=').next() == Some(key)) {
            env.push(kv.clone());
        }
    }
    spec.process.env = env;
    spec.process.cwd = Some(exec.cwd.clone());
    spec.process.user = exec.user.clone();
    // BuildKit's default RUN network reaches the outside; the host namespace does that
    // without a bridge (NetworkMode::Default = host for now).
    spec.network = match exec.network {
        NetworkMode::None => CNet::None,
        NetworkMode::Default | NetworkMode::Host => CNet::Host,
    };
    apply_settings(&mut spec, &exec.settings).map_err(werr)?;
    // Mount guards must outlive the container run; they are undone when dropped below,
    // before the step directory goes.
    let mounts = {
        let exec_dir = dir.path().to_path_buf();
        let input = &input;
        super::blocking(move || prepare(exec, input, &exec_dir))
    }
    .map_err(|e| werr(e.into()))?;
    for kv in &mounts.env {
        let key = kv.split('=').next().unwrap_or_default();
        spec.process
            .env
            .retain(|e| e.split('=').next() != Some(key));
        spec.process.env.push(kv.clone());
    }
    spec.mounts = mounts.mounts.clone();
    let masker = mounts.masker.clone();

    let (tx, mut rx) = mpsc::unbounded_channel();
    let log_ctx = ctx.clone();
    let pump = tokio::spawn(async move {
        let mut tail: VecDeque<String> = VecDeque::new();
        while let Some(line) = rx.recv().await {
            let line: kiln_executor::OutputLine = line;
            let stream = match line.stream {
                CStream::Stdout => Stream::Stdout,
                CStream::Stderr => Stream::Stderr,
            };
            // Secret values never reach the progress stream, the logs or an error.
            let masked = masker.mask(&line.line);
            let mut data = masked.clone();
            if !line.partial {
                data.push(b'\n');
            }
            log_ctx.log(stream, &data);
            tail.push_back(String::from_utf8_lossy(&masked).into_owned());
            if tail.len() > TAIL_LINES {
                tail.pop_front();
            }
        }
        tail
    });
    let cancel = ctx.cancel.clone();
    let outcome = executor
        .run_until(
            &spec,
            RunOptions {
                output: Some(tx),
                ..Default::default()
            },
            async move { cancel.cancelled().await },
        )
        .await;
    let tail = pump.await.unwrap_or_default();
    let command = format!("{:?}", exec.args);
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            let code = e.exit_code();
            let msg = setup_message(&command, &e);
            return Err(WorkerError {
                message: msg,
                exit_code: Some(code),
                source: Some(Box::new(e)),
            });
        }
    };
    if outcome.cancelled {
        return Err(WorkerError::new("cancelled"));
    }
    let code = outcome.exit_code();
    if code != 0 {
        if let Some(shell) = &input.extras.on_failure {
            // Only one shell at a time, even when parallel steps fail together.
            static ONE_SHELL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
            let _one = ONE_SHELL.lock().await;
            let mut debug = spec.clone();
            debug.id = unique_id();
            debug.process.args = vec!["/bin/sh".into()];
            debug.process.tty = true;
            let upper = outcome.upper.clone().unwrap_or_else(|| upper.clone());
            if let Rootfs::Overlay { upper: u, .. } = &mut debug.rootfs {
                *u = upper;
            }
            shell.open(debug, &command, code).await;
        }
        let mut message =
            format!("process {command} did not complete successfully: exit code: {code}");
        if outcome.oom_killed {
            message.push_str(" (killed: out of memory)");
        }
        if !tail.is_empty() {
            message.push_str("\nlast output lines:");
            for l in &tail {
                message.push_str("\n  ");
                message.push_str(l);
            }
        }
        return Err(WorkerError {
            message,
            exit_code: Some(code),
            source: None,
        });
    }
    let upper = outcome.upper.unwrap_or(upper);
    Ok(ExecResult { _dir: dir, upper })
}

fn setup_message(command: &str, e: &ExecError) -> String {
    format!("process {command} could not be started: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_executor::{Rlimit, RlimitKind};
    use kiln_frontend::graph::{HostEntry, Ulimit};

    fn spec() -> ContainerSpec {
        ContainerSpec::new("t", Rootfs::Dir(PathBuf::from("/x")), vec!["true".into()])
    }

    #[test]
    fn settings_reach_the_container_spec() {
        let mut s = spec();
        s.limits.rlimits.push(Rlimit {
            kind: RlimitKind::Nofile,
            soft: 1,
            hard: 1,
        });
        let settings = RunSettings {
            extra_hosts: vec![HostEntry {
                name: "db".into(),
                address: "10.0.0.1".into(),
            }],
            ulimits: vec![Ulimit {
                name: "nofile".into(),
                soft: 10,
                hard: 20,
            }],
            shm_size: Some(4096),
        };
        apply_settings(&mut s, &settings).unwrap();
        assert_eq!(s.extra_hosts, [("db".to_string(), "10.0.0.1".to_string())]);
        // The build's limit replaces a default of the same kind.
        assert_eq!(
            s.limits.rlimits,
            [Rlimit {
                kind: RlimitKind::Nofile,
                soft: 10,
                hard: 20
            }]
        );
        assert_eq!(s.shm_size, Some(4096));
        let bad = RunSettings {
            ulimits: vec![Ulimit {
                name: "files".into(),
                soft: 1,
                hard: 1,
            }],
            ..RunSettings::default()
        };
        let e = apply_settings(&mut spec(), &bad).unwrap_err().to_string();
        assert!(e.contains("--ulimit files"), "{e}");
    }
}
