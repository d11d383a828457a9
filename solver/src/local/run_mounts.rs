//! The `--mount`s of one RUN step, made ready on the host: bind sources (read-only, or
//! writable through a throw-away overlay so writes never reach the context or a stage),
//! cache directories (held per their sharing mode), tmpfs, secret files on a private
//! tmpfs, secret environment variables, and forwarded SSH agent sockets. Everything is
//! held by [`StepMounts`] and undone, newest first, when it drops.
//!
//! API (crate-internal): [`prepare`], [`StepMounts`].

use std::path::{Path, PathBuf};

use kiln_executor::{Mount as CMount, MountKind as CKind};
use kiln_frontend::graph::{Exec, Mount, MountKind};

use super::cache_mount::{acquire, CacheInit, CacheMountError, CacheMountLease};
use super::exec::ExecInput;
use super::mount::{MountError, OverlayMount, View};
use super::secrets::{Masker, SecretError, SecretFiles, SecretValue};
use super::ssh::{SshForward, SshForwardError};
use super::Output;

#[derive(Debug, thiserror::Error)]
pub enum RunMountError {
    #[error(transparent)]
    Mount(#[from] MountError),
    #[error(transparent)]
    Cache(#[from] CacheMountError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Ssh(#[from] SshForwardError),
    #[error(transparent)]
    Resolve(#[from] kiln_executor::securejoin::ResolveError),
    #[error("mount input {0} is not an input of this step")]
    MissingInput(usize),
    #[error("the bind mount at {0} names no source")]
    BindWithoutSource(String),
    #[error("bind mount source {source_path} for {target}: {error}")]
    BindSource {
        target: String,
        source_path: PathBuf,
        #[source]
        error: std::io::Error,
    },
    #[error("preparing the mount at {target} in {path}: {source}")]
    Io {
        target: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

enum Guard {
    View(#[allow(dead_code)] View),
    Overlay(#[allow(dead_code)] OverlayMount),
    Cache(#[allow(dead_code)] CacheMountLease),
    Secrets(#[allow(dead_code)] SecretFiles),
    Ssh(#[allow(dead_code)] SshForward),
}

/// Container mounts and extra environment of a step, with what keeps them valid.
pub struct StepMounts {
    pub mounts: Vec<CMount>,
    /// `KEY=value` entries added to the process environment (secret env, SSH_AUTH_SOCK).
    pub env: Vec<String>,
    /// Masks the values of the secrets this step can read.
    pub masker: Masker,
    guards: Vec<Guard>,
}

impl Drop for StepMounts {
    fn drop(&mut self) {
        // Newest first: a writable overlay goes before the view it stacks on.
        while let Some(g) = self.guards.pop() {
            drop(g);
        }
    }
}

/// Prepare every mount of `exec` under the step directory `dir`. Blocking (a locked
/// cache mount waits for its holder).
pub fn prepare(
    exec: &Exec,
    input: &ExecInput<'_>,
    dir: &Path,
) -> Result<StepMounts, RunMountError> {
    let mut out = StepMounts {
        mounts: Vec::new(),
        env: Vec::new(),
        masker: Masker::default(),
        guards: Vec::new(),
    };
    let mut secret_files: Option<SecretFiles> = None;
    let mut used_secrets: Vec<SecretValue> = Vec::new();
    for (n, m) in exec.mounts.iter().enumerate() {
        let here = dir.join(format!("m{n}"));
        let kind = match &m.kind {
            MountKind::Bind => {
                let i = m
                    .input
                    .ok_or_else(|| RunMountError::BindWithoutSource(m.target.clone()))?;
                let source = input_path(input, i, &m.selector, &mut out.guards)?;
                if m.readonly {
                    CKind::Bind { source }
                } else {
                    CKind::Bind {
                        source: writable_copy(m, &source, &here, &mut out.guards)?,
                    }
                }
            }
            MountKind::Cache {
                id,
                sharing,
                mode,
                uid,
                gid,
            } => {
                let seed = match m.input {
                    Some(i) => Some(input_path(input, i, &m.selector, &mut out.guards)?),
                    None => None,
                };
                let init = CacheInit {
                    uid: *uid,
                    gid: *gid,
                    mode: *mode,
                    seed: seed.as_deref(),
                };
                let lease = acquire(input.store_root, id, *sharing, init)?;
                let source = lease.dir().to_path_buf();
                out.guards.push(Guard::Cache(lease));
                CKind::Bind { source }
            }
            MountKind::Tmpfs { size } => CKind::Tmpfs { size: *size },
            MountKind::Secret {
                id,
                required,
                env,
                mode,
                uid,
                gid,
            } => {
                let Some(value) = input.extras.secrets.secret(id) else {
                    if *required {
                        return Err(SecretError::MissingSecret { id: id.clone() }.into());
                    }
                    tracing::debug!("secret {id:?} not given; its optional mount is skipped");
                    continue;
                };
                used_secrets.push(value.clone());
                if let Some(name) = env {
                    out.env
                        .push(format!("{name}={}", String::from_utf8_lossy(value.bytes())));
                }
                if m.target.is_empty() {
                    continue;
                }
                if secret_files.is_none() {
                    secret_files = Some(SecretFiles::new(&dir.join("secrets"))?);
                }
                let Some(files) = secret_files.as_mut() else {
                    continue;
                };
                CKind::Bind {
                    source: files.write(id, value, *mode, *uid, *gid)?,
                }
            }
            MountKind::Ssh {
                id,
                required,
                mode,
                uid,
                gid,
            } => {
                let Some(agent) = input.extras.secrets.ssh(id) else {
                    if *required {
                        return Err(SecretError::MissingSsh { id: id.clone() }.into());
                    }
                    tracing::debug!("ssh agent {id:?} not given; its optional mount is skipped");
                    continue;
                };
                let socket = dir.join(format!("ssh-{n}.sock"));
                let fwd = SshForward::start(id, agent, &socket, *mode, *uid, *gid)?;
                let socket = fwd.socket().to_path_buf();
                out.guards.push(Guard::Ssh(fwd));
                let has_sock = |e: &String| e.starts_with("SSH_AUTH_SOCK=");
                if !exec.env.iter().any(has_sock) && !out.env.iter().any(has_sock) {
                    out.env.push(format!("SSH_AUTH_SOCK={}", m.target));
                }
                // A socket is connected to, not written: a read-only bind would still
                // work, but nothing is gained by it.
                out.mounts.push(CMount {
                    destination: m.target.clone(),
                    kind: CKind::Bind { source: socket },
                    readonly: false,
                });
                continue;
            }
        };
        out.mounts.push(CMount {
            destination: m.target.clone(),
            kind,
            // Secret files are never writable from the step; a writable bind is an
            // overlay or a copy of its own, so its writes go nowhere.
            readonly: matches!(m.kind, MountKind::Secret { .. }) || m.readonly,
        });
    }
    if let Some(f) = secret_files {
        out.guards.push(Guard::Secrets(f));
    }
    out.masker = Masker::new(used_secrets.iter());
    Ok(out)
}

/// The host path of `selector` inside input `i` (the context directory, or a read-only
/// view of a stage or image kept in `guards`).
fn input_path(
    input: &ExecInput<'_>,
    i: usize,
    selector: &str,
    guards: &mut Vec<Guard>,
) -> Result<PathBuf, RunMountError> {
    let base = match (input.inputs.get(i), input.input_lowers.get(i)) {
        (Some(Output::Context(c)), _) => c.root.clone(),
        (Some(Output::Chain(_)), Some(Some(lowers))) => {
            let v = View::new(input.store_root, lowers)?;
            let root = v.root().to_path_buf();
            guards.push(Guard::View(v));
            root
        }
        _ => return Err(RunMountError::MissingInput(i)),
    };
    let sel = selector.trim_start_matches('/');
    // The frontend cleans selectors (no `..`); a symlink inside the source is resolved
    // inside it, so a bind cannot reach outside the context or stage.
    if sel.is_empty() {
        return Ok(base);
    }
    let rel = kiln_executor::securejoin::resolve_in_root(&base, sel)?;
    Ok(base.join(rel))
}

/// A writable stand-in for a bind source whose writes are thrown away with the step: an
/// overlay over a directory, a copy of a file.
fn writable_copy(
    m: &Mount,
    source: &Path,
    here: &Path,
    guards: &mut Vec<Guard>,
) -> Result<PathBuf, RunMountError> {
    let meta = std::fs::metadata(source).map_err(|error| RunMountError::BindSource {
        target: m.target.clone(),
        source_path: source.to_path_buf(),
        error,
    })?;
    let io = |path: &Path| {
        let target = m.target.clone();
        let path = path.to_path_buf();
        move |source| RunMountError::Io {
            target,
            path,
            source,
        }
    };
    std::fs::create_dir_all(here).map_err(io(here))?;
    if !meta.is_dir() {
        let copy = here.join("file");
        std::fs::copy(source, &copy).map_err(io(&copy))?;
        return Ok(copy);
    }
    let (upper, work, merged) = (here.join("upper"), here.join("work"), here.join("merged"));
    for d in [&upper, &work, &merged] {
        std::fs::create_dir(d).map_err(io(d))?;
    }
    let mounted = OverlayMount::mount(&[source.to_path_buf()], Some((&upper, &work)), &merged)?;
    guards.push(Guard::Overlay(mounted));
    Ok(merged)
}
