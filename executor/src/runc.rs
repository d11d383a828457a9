//! Running a container through `runc` (the reference runtime): the spec is written as an
//! OCI bundle in the container's state directory (overlay rootfs mounted there on the host
//! for the run), `runc run` executes it in the foreground with piped stdio, inside a
//! kiln-owned parent cgroup so OOM kills are seen and nothing is left behind.

use crate::bundle::{write_bundle, BundleInputs};
use crate::cgroups::Cgroups;
use crate::output::pump_child;
use crate::run::{ExecError, ExitStatus, RunOptions, RunOutcome, Stdin};
use crate::spec::{ContainerSpec, Rootfs};
use crate::state::StateDir;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

/// The overlay mounted on the host for runc; unmounted when dropped.
struct HostMount(Option<PathBuf>);

impl Drop for HostMount {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            if let Err(e) = umount2(&p, MntFlags::MNT_DETACH) {
                tracing::error!("unmounting {}: {e}", p.display());
            }
        }
    }
}

/// Kills and deletes the runc container if the run did not finish normally.
struct RuncContainer<'a> {
    binary: &'a Path,
    root: PathBuf,
    id: String,
}

impl RuncContainer<'_> {
    fn command(&self) -> std::process::Command {
        let mut c = std::process::Command::new(self.binary);
        c.arg("--root").arg(&self.root);
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    }

    /// `runc kill <id> KILL`; failures (not created yet, already gone) are retried or moot.
    async fn kill(&self) {
        let mut c = tokio::process::Command::from(self.command());
        let _ = c.args(["kill", &self.id, "KILL"]).status().await;
    }
}

impl Drop for RuncContainer<'_> {
    fn drop(&mut self) {
        let _ = self
            .command()
            .args(["delete", "--force", &self.id])
            .status();
    }
}

pub(crate) async fn run(
    binary: &Path,
    state_root: &Path,
    spec: &ContainerSpec,
    opts: RunOptions,
    cancel: impl Future<Output = ()>,
) -> Result<RunOutcome, ExecError> {
    if spec.process.tty {
        return Err(ExecError::InvalidSpec(
            "tty is not supported with the runc runtime (it needs a console socket); use the native runtime".into(),
        ));
    }
    if spec.init {
        return Err(ExecError::InvalidSpec(
            "init is not supported with the runc runtime (runc has no built-in init); use the native runtime".into(),
        ));
    }
    let started = Instant::now();
    // Drop order (reverse of declaration): runc state, cgroups, mount, then the directory.
    let state = StateDir::create(state_root, spec)?;
    let mut host_mount = HostMount(None);
    let rootfs: PathBuf = match &spec.rootfs {
        Rootfs::Dir(d) => d.clone(),
        Rootfs::Overlay { lower, upper, work } => {
            let target = state.rootfs();
            let data = crate::helper::overlay_data(lower, upper, work, &target)
                .map_err(|e| ExecError::InvalidSpec(e.to_string()))?;
            mount(
                Some("overlay"),
                &target,
                Some("overlay"),
                MsFlags::empty(),
                Some(data.as_str()),
            )
            .map_err(|e| ExecError::Runc(format!("mounting the overlay rootfs ({data}): {e}")))?;
            host_mount.0 = Some(target.clone());
            target
        }
    };
    // runc creates missing mountpoints in the rootfs; note which, to drop them from the
    // upper dir afterwards as the native path does.
    let mut destinations: Vec<String> = state.etc_files().into_iter().map(|(d, _)| d).collect();
    destinations.extend(spec.mounts.iter().map(|m| m.destination.clone()));
    let missing = missing_paths(&rootfs, &destinations);
    let mut cgroups = Cgroups::create_parent(&spec.id, spec.limits.memory)?;
    let oom_listener = cgroups.oom_listener()?;
    let etc = state.etc_files();
    let inputs = BundleInputs {
        rootfs: &rootfs,
        etc_files: &etc,
        cgroups_path: Some(format!("kiln-{}/ctr", spec.id)),
    };
    // The memory limit sits on the parent cgroup (see `Cgroups::create_parent`).
    let mut bundle_spec = spec.clone();
    bundle_spec.limits.memory = None;
    let config = write_bundle(&bundle_spec, state.path(), &inputs)?;
    let container = RuncContainer {
        binary,
        root: state_root.join("runc"),
        id: spec.id.clone(),
    };

    let mut cmd = tokio::process::Command::new(binary);
    cmd.arg("--root")
        .arg(&container.root)
        .args(["run", "--bundle"])
        .arg(state.path())
        .arg(&spec.id)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(match opts.stdin {
            Stdin::Null => Stdio::null(),
            Stdin::Bytes(_) | Stdin::Stream(_) => Stdio::piped(),
        })
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|source| ExecError::Spawn {
        what: "runc",
        path: binary.to_path_buf(),
        source,
    })?;
    let live = crate::stdin::take_live(&opts.stdin)?;
    let immediate = live.is_some();
    let pumps = pump_child(&mut child, &opts.output, immediate);
    // Held to the end of the run: dropping it stops the feeding.
    let _feeder = crate::stdin::feed_child(&mut child, live, opts.stdin);

    tokio::pin!(cancel);
    let deadline = spec
        .timeout
        .map(|t| tokio::time::Instant::from_std(started + t));
    let sleep = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now));
    tokio::pin!(sleep);
    let (mut timed_out, mut cancelled) = (false, false);
    // `runc kill` fails while runc is still creating the container; keep asking until
    // `runc run` has exited.
    let mut retry = tokio::time::interval(std::time::Duration::from_millis(50));
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            _ = retry.tick(), if timed_out || cancelled => container.kill().await,
            _ = &mut sleep, if deadline.is_some() && !timed_out => {
                timed_out = true;
                container.kill().await;
            }
            _ = &mut cancel, if !cancelled => {
                cancelled = true;
                container.kill().await;
            }
        }
    };
    let duration = started.elapsed();
    for p in pumps {
        let _ = p.await;
    }
    let status = status.map_err(|e| ExecError::Runc(format!("waiting for runc: {e}")))?;
    drop(container);
    let oom_killed = cgroups.oom_killed()? || oom_listener.is_some_and(|l| l.fired());
    cgroups.remove()?;
    drop(host_mount);
    match &spec.rootfs {
        Rootfs::Overlay { upper, lower, .. } => {
            crate::upper::remove_created_mountpoints(upper, &missing);
            crate::upper::remove_copied_up_parents(upper, lower, &missing);
        }
        Rootfs::Dir(dir) => crate::upper::remove_created_mountpoints(dir, &missing),
    }
    let _ = std::fs::remove_file(&config);
    drop(state);
    // runc exits with the container's code, or 128+signal when it was killed.
    let status = match status.code() {
        Some(c) if c > 128 && c <= 128 + 64 => ExitStatus::Signal(c - 128),
        Some(c) => ExitStatus::Code(c),
        None => {
            return Err(ExecError::Runc(format!("runc itself was killed: {status}")));
        }
    };
    Ok(RunOutcome {
        status,
        oom_killed,
        timed_out,
        cancelled,
        duration,
        upper: match &spec.rootfs {
            Rootfs::Overlay { upper, .. } => Some(upper.clone()),
            Rootfs::Dir(_) => None,
        },
    })
}

/// The container paths (each missing component, parents first) that do not exist yet
/// under `rootfs` for the given mount destinations.
fn missing_paths(rootfs: &Path, destinations: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for dest in destinations {
        let Ok(rel) = crate::securejoin::resolve_in_root(rootfs, dest) else {
            continue;
        };
        let mut container = PathBuf::from("/");
        let mut host = rootfs.to_path_buf();
        for part in rel.components() {
            container.push(part);
            host.push(part);
            let s = container.to_string_lossy().into_owned();
            if std::fs::symlink_metadata(&host).is_err() && !out.contains(&s) {
                out.push(s);
            }
        }
    }
    out
}
