//! Named contexts (`--build-context NAME=VALUE`, BuildKit's): a local directory or an
//! image that stands in for whatever `NAME` would otherwise be in `FROM NAME`,
//! `COPY --from=NAME` and `RUN --mount=from=NAME` — a stage of that name (the stage is
//! replaced), or an image. A local directory is a Local source of its own, reading only
//! the paths the instruction selects, so its files reach the cache keys of the steps that
//! read them and no others.
//!
//! API: [`NamedContext`], [`local_source_name`]; crate-internal [`lookup`],
//! [`base_ref`], [`source`], [`local_rootfs`].

use super::reference::normalize;
use super::stages::BaseRef;
use super::state::add;
use super::{CompileError, Ctx};
use crate::graph::{Copy, Digest, FileAction, FileOp, Op, Origin, Platform, Source};
use crate::instructions::Command;
use crate::paths::clean;

/// What a named context is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedContext {
    /// A directory on the client; the caller maps [`local_source_name`] to it. `exclude`:
    /// the patterns of its own `.dockerignore` (BuildKit reads that of each named context).
    Local { exclude: Vec<String> },
    /// `docker-image://REF`: the image REF (as given; normalised when compiled).
    Image(String),
}

/// The Local source name of the named context `name` (the main context is `context`).
pub fn local_source_name(name: &str) -> String {
    format!("context:{name}")
}

/// The named context `reference` names: by its exact name, or as the same image
/// reference once both are normalised (`alpine` names `docker.io/library/alpine:latest`).
pub fn lookup<'a>(cx: &'a Ctx, reference: &str) -> Option<(&'a str, &'a NamedContext)> {
    let named = &cx.opts.named_contexts;
    if let Some((k, v)) = named.get_key_value(reference) {
        return Some((k.as_str(), v));
    }
    let wanted = normalize(reference).ok()?;
    named
        .iter()
        .find(|(k, _)| normalize(k).ok().as_deref() == Some(wanted.as_str()))
        .map(|(k, v)| (k.as_str(), v))
}

/// The base of a stage whose FROM (or own name) is the named context `name`.
pub fn base_ref(
    cx: &Ctx,
    cmd: &Command,
    name: &str,
    context: &NamedContext,
) -> Result<BaseRef, CompileError> {
    match context {
        NamedContext::Local { .. } => Ok(BaseRef::Local(name.to_string())),
        NamedContext::Image(r) => Ok(BaseRef::Image(image_ref(cx, cmd, name, r)?)),
    }
}

fn image_ref(cx: &Ctx, cmd: &Command, name: &str, r: &str) -> Result<String, CompileError> {
    normalize(r).map_err(|e| {
        cx.error(
            cmd,
            "",
            format!("--build-context {name}=docker-image://{r}: invalid image reference: {e}"),
            "--build-context NAME=docker-image://REPOSITORY[:TAG|@DIGEST]",
        )
    })
}

/// The filesystem COPY --from / RUN --mount=from= read from a named context: the image,
/// or the local directory limited to `paths` (everything when empty or `/`).
pub fn source(
    cx: &mut Ctx,
    cmd: &Command,
    origin: Origin,
    (name, context): (&str, &NamedContext),
    paths: &[String],
    platform: &Platform,
) -> Result<Digest, CompileError> {
    let op = match context {
        NamedContext::Image(r) => Op::Source(Source::Image {
            reference: image_ref(cx, cmd, name, r)?,
            platform: platform.clone(),
        }),
        NamedContext::Local { exclude } => local_op(name, paths, exclude),
    };
    add(cx, op, vec![], origin)
}

fn local_op(name: &str, paths: &[String], exclude: &[String]) -> Op {
    let mut include: Vec<String> = paths
        .iter()
        .map(|p| clean(&format!("./{}", clean(&format!("/{p}")))))
        .collect();
    include.sort();
    include.dedup();
    if include.is_empty() || include.iter().any(|p| p == "." || p == "/") {
        include.clear();
    }
    Op::Source(Source::Local {
        name: local_source_name(name),
        include,
        exclude: exclude.to_vec(),
    })
}

/// `FROM NAME` of a local named context: its files copied onto scratch (a local source
/// is a directory, not a layer chain), with no image config, as BuildKit does.
pub fn local_rootfs(cx: &mut Ctx, name: &str, origin: Origin) -> Result<Digest, CompileError> {
    let exclude = match cx.opts.named_contexts.get(name) {
        Some(NamedContext::Local { exclude }) => exclude.clone(),
        _ => Vec::new(),
    };
    let scratch = add(cx, Op::Source(Source::Scratch), vec![], origin.clone())?;
    let local = add(cx, local_op(name, &[], &exclude), vec![], origin.clone())?;
    let copy = FileAction::Copy(Copy {
        input: 1,
        src: "/".into(),
        dest: "/".into(),
        owner: None,
        mode: None,
        follow_symlinks: false,
        dir_contents_only: true,
        allow_wildcard: false,
        allow_empty_wildcard: false,
        create_dest_path: true,
        unpack_archives: false,
        parents: false,
        exclude: Vec::new(),
    });
    let op = Op::File(FileOp {
        actions: vec![copy],
    });
    add(cx, op, vec![scratch, local], origin)
}
