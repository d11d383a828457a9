//! `RUN --mount` specs compiled into Exec mounts: variables expanded in every value but
//! `from=` (as BuildKit), then bind mounts of the build context, a stage or an image,
//! cache, tmpfs, secret and ssh mounts.
//!
//! API (crate-internal): [`run_mount`].

use super::dispatch::expand;
use super::refs::{mount_from, PlanView};
use super::state::{add, StageState};
use super::{CompileError, Ctx};
use crate::graph::{CacheSharing, Digest, Mount as ExecMount, MountKind, Op, Source};
use crate::instructions::{parse_mount, CacheSharing as Sharing, Command, MountType};
use crate::paths::{clean, join};

/// Expands each `key=value` of a mount spec except `from=`.
fn expand_spec(
    cx: &mut Ctx,
    st: &StageState,
    cmd: &Command,
    spec: &str,
) -> Result<String, CompileError> {
    let mut fields = Vec::new();
    for field in spec.split(',') {
        match field.split_once('=') {
            Some((k, v)) if !k.trim().eq_ignore_ascii_case("from") => {
                fields.push(format!("{k}={}", expand(cx, st, cmd, v)?));
            }
            _ => fields.push(field.to_string()),
        }
    }
    Ok(fields.join(","))
}

/// The build context as a source reading only `source` (everything for `/`).
pub fn context_source(
    cx: &mut Ctx,
    st: &StageState,
    cmd: &Command,
    paths: &[String],
) -> Result<Digest, CompileError> {
    let mut include: Vec<String> = paths
        .iter()
        .map(|p| clean(&format!("./{}", clean(&format!("/{p}")))))
        .collect();
    include.sort();
    include.dedup();
    if include.iter().any(|p| p == "." || p == "/") {
        include.clear();
    }
    let op = Op::Source(Source::Local {
        name: "context".into(),
        include,
        exclude: cx.opts.context_excludes.clone(),
    });
    add(cx, op, vec![], st.origin(cmd))
}

/// Compiles one `--mount` spec, adding its source vertex to `inputs`.
pub fn run_mount(
    cx: &mut Ctx,
    st: &StageState,
    cmd: &Command,
    spec: &str,
    view: &PlanView<'_>,
    inputs: &mut Vec<Digest>,
    ssh_count: &mut usize,
) -> Result<ExecMount, CompileError> {
    let raw_from = mount_from(spec);
    let expanded = expand_spec(cx, st, cmd, spec)?;
    let m = parse_mount(&expanded).map_err(|e| {
        cx.error(
            cmd,
            spec,
            format!("invalid --mount: {e}"),
            "--mount=type=bind|cache|tmpfs|secret|ssh,target=<path>,...",
        )
    })?;
    let from = raw_from
        .or_else(|| m.from.clone())
        .filter(|f| !f.is_empty());
    let source = m.source.clone().unwrap_or_default();
    let selector = join(&["/", &source]);
    let mut input_of = |digest: Digest| {
        inputs.push(digest);
        Some(inputs.len() - 1)
    };
    let resolve_target = |t: &str| {
        if t.starts_with('/') {
            clean(t)
        } else {
            join(&["/", &st.workdir, t])
        }
    };
    let (target, input, kind) = match m.kind {
        MountType::Bind => {
            let digest = match &from {
                Some(f) => view.source(cx, &st.label, cmd, f, std::slice::from_ref(&source))?,
                None => context_source(cx, st, cmd, std::slice::from_ref(&source))?,
            };
            (
                resolve_target(m.target.as_deref().unwrap_or("")),
                input_of(digest),
                MountKind::Bind,
            )
        }
        MountType::Cache => {
            let input = match &from {
                Some(f) => input_of(view.source(cx, &st.label, cmd, f, &[])?),
                None => None,
            };
            let sharing = match m.cache_sharing() {
                Sharing::Shared => CacheSharing::Shared,
                Sharing::Private => CacheSharing::Private,
                Sharing::Locked => CacheSharing::Locked,
            };
            let kind = MountKind::Cache {
                id: m.cache_id(),
                sharing,
                mode: m.mode,
                uid: m.uid.unwrap_or(0),
                gid: m.gid.unwrap_or(0),
            };
            (
                resolve_target(m.target.as_deref().unwrap_or("")),
                input,
                kind,
            )
        }
        MountType::Tmpfs => {
            let kind = MountKind::Tmpfs {
                size: m
                    .size_limit
                    .and_then(|s| u64::try_from(s).ok())
                    .filter(|s| *s > 0),
            };
            (
                resolve_target(m.target.as_deref().unwrap_or("")),
                None,
                kind,
            )
        }
        MountType::Secret => {
            let id = m.secret_id().ok_or_else(|| {
                cx.error(
                    cmd,
                    spec,
                    "invalid secret mount: one of id, source or target is required".into(),
                    "--mount=type=secret,id=<id>",
                )
            })?;
            let target = m
                .secret_target()
                .map(|t| resolve_target(&t))
                .unwrap_or_default();
            let kind = MountKind::Secret {
                id,
                required: m.required,
                env: m.env.clone(),
                mode: m.mode.unwrap_or(0o400),
                uid: m.uid.unwrap_or(0),
                gid: m.gid.unwrap_or(0),
            };
            (target, None, kind)
        }
        MountType::Ssh => {
            let target = match &m.target {
                Some(t) => resolve_target(t),
                None => format!("/run/buildkit/ssh_agent.{ssh_count}"),
            };
            *ssh_count += 1;
            let kind = MountKind::Ssh {
                id: m.ssh_id(),
                required: m.required,
                mode: m.mode.unwrap_or(0o600),
                uid: m.uid.unwrap_or(0),
                gid: m.gid.unwrap_or(0),
            };
            (target, None, kind)
        }
    };
    if target == "/" {
        return Err(cx.error(
            cmd,
            spec,
            format!("invalid mount target {target:?}"),
            "a mount target other than /",
        ));
    }
    Ok(ExecMount {
        target,
        input,
        selector,
        readonly: m.read_only,
        kind,
    })
}
