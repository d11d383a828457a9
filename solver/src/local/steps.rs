//! Running Exec and File steps into new chains: each prepares a root (overlay of the input
//! chain's snapshots), lets the step change it, and turns the upper dir into a layer.

use std::collections::HashSet;
use std::path::Path;

use kiln_cache::layer::diff::diff_overlay_upper;
use kiln_cache::layer::{
    write_layer, write_layer_and_apply, ApplyMode, ApplyOptions, Compression, Entry, TarOptions,
};
use kiln_cache::lease::Lease;
use kiln_cache::Store;
use kiln_frontend::graph::{Copy, Digest, Exec, FileAction, Graph, Op, Vertex};

use super::chain::{Chain, Layer, LAYER_MEDIA_TYPE};
use super::copy::{copy_into, CopyError, CopySource};
use super::copy_layer::LayerDest;
use super::exec::{run_exec, ExecInput};
use super::fileop::{apply, resolve_owner};
use super::mount::{OverlayMount, View};
use super::step_dir::step_dir;
use super::{blocking, err, LocalWorker, Output};
use crate::context::Matcher;
use crate::worker::{StepContext, WorkerError};

/// The upper dir as a layer on top of `base`, recorded so later steps can unpack it.
fn commit_layer(
    store: &Store,
    lease: Option<&Lease>,
    base: &Chain,
    upper: &Path,
) -> Result<Chain, WorkerError> {
    let entries = diff_overlay_upper(upper).map_err(err)?;
    let chain = store_layer(store, lease, base, &entries, None)?;
    // The upper dir already is this layer in overlay form: keep it as the snapshot a
    // later step stacks, instead of unpacking the blob again (only an optimisation).
    if let Err(e) = store.adopt_snapshot(&chain.diff_ids(), upper) {
        tracing::warn!("keeping the step's upper dir as a snapshot: {e}");
    }
    Ok(chain)
}

/// Write `entries` as a layer blob (tar, compression and both digests in one pass) and
/// record it on top of `base`. With `unpack_into`, the same stream is also unpacked there
/// (in overlay form) and the directory kept as the layer's snapshot; without, no snapshot
/// is made and a later step that needs the files unpacks the blob (see `Chain::lowerdirs`).
fn store_layer(
    store: &Store,
    lease: Option<&Lease>,
    base: &Chain,
    entries: &[Entry],
    unpack_into: Option<&Path>,
) -> Result<Chain, WorkerError> {
    let _guard = store.write_guard().map_err(err)?;
    // Cached layers keep their real mtimes: SOURCE_DATE_EPOCH is applied at export
    // (local::convert), so one cache serves builds with and without an epoch.
    let (blob, unpacked) = match unpack_into {
        None => {
            let blob = write_layer(
                store.content(),
                entries,
                TarOptions::default(),
                Compression::Gzip,
            )
            .map_err(err)?;
            (blob, false)
        }
        Some(dir) => {
            let opts = ApplyOptions {
                mode: ApplyMode::Overlay,
                allow_devices: store.allow_devices(),
            };
            let (blob, applied) = write_layer_and_apply(
                store.content(),
                entries,
                TarOptions::default(),
                Compression::Gzip,
                dir,
                opts,
            )
            .map_err(err)?;
            if let Err(e) = &applied {
                // Only an optimisation: the blob is complete and is unpacked when needed.
                tracing::warn!("unpacking the new layer beside its blob: {e}");
            }
            (blob, applied.is_ok())
        }
    };
    // Leased while the write guard still keeps GC out (nothing references the blob yet),
    // in the same transaction as its layer record.
    store
        .record_layer_blob_leased(&blob.diff_id, &blob.digest, LAYER_MEDIA_TYPE, lease)
        .map_err(err)?;
    let chain = base.with(Layer {
        diff_id: blob.diff_id,
        blob: blob.digest,
        size: blob.size,
        media_type: LAYER_MEDIA_TYPE.into(),
        // Dated by the worker when the step's result is recorded.
        created: None,
    });
    if let (true, Some(dir)) = (unpacked, unpack_into) {
        if let Err(e) = store.adopt_snapshot(&chain.diff_ids(), dir) {
            tracing::warn!("keeping the unpacked layer as a snapshot: {e}");
        }
    }
    Ok(chain)
}

/// The vertices whose result a later step of `graph` reads as files (a RUN's root or
/// mounts, a copy's base or source), so their layers are worth unpacking while they are
/// written; the others (a final image's top layers) stay blobs only.
pub fn vertices_needing_files(graph: &Graph) -> HashSet<Digest> {
    let mut out = HashSet::new();
    let order: Vec<&Vertex> = graph.vertices().collect();
    // Consumers come after their inputs: walk backwards so a merge knows whether its own
    // result is needed before deciding for its inputs.
    for v in order.iter().rev() {
        let reads = match v.op {
            Op::Exec(_) | Op::File(_) => true,
            Op::Merge => out.contains(&v.digest),
            Op::Source(_) => false,
        };
        if reads {
            out.extend(v.inputs.iter().cloned());
        }
    }
    out
}

fn input_chain(inputs: &[Output], i: usize) -> Result<&Chain, WorkerError> {
    match inputs.get(i) {
        Some(Output::Chain(c)) => Ok(c),
        Some(Output::Context(_)) => Err(WorkerError::new(format!(
            "input {i} of the step is the build context, not a filesystem state"
        ))),
        None => Ok(empty_chain()),
    }
}

fn empty_chain() -> &'static Chain {
    static EMPTY: Chain = Chain { layers: Vec::new() };
    &EMPTY
}

pub async fn run_exec_step(
    w: &LocalWorker,
    exec: &Exec,
    inputs: &[Output],
    ctx: &StepContext,
) -> Result<Chain, WorkerError> {
    let store = w.store.clone();
    let base = input_chain(inputs, 0)?.clone();
    let (lower, input_lowers) = blocking(|| {
        let lower = base.lowerdirs(&store).map_err(err)?;
        let mut input_lowers = Vec::with_capacity(inputs.len());
        for i in inputs {
            input_lowers.push(match i {
                Output::Chain(c) => Some(c.lowerdirs(&store).map_err(err)?),
                Output::Context(_) => None,
            });
        }
        Ok::<_, WorkerError>((lower, input_lowers))
    })?;
    let result = run_exec(
        &w.executor,
        exec,
        ExecInput {
            store_root: store.root(),
            lower,
            inputs,
            input_lowers,
            proxy_env: &w.proxy_env,
            extras: &w.run_extras,
        },
        ctx,
    )
    .await?;
    let chain = blocking(|| commit_layer(&store, w.lease.as_ref(), &base, &result.upper))?;
    drop(result);
    Ok(chain)
}

/// Read-only views of the chain inputs that copies read from (mounted before anything is
/// written, so a copy never sees its own output).
fn copy_views(
    store: &Store,
    actions: &[FileAction],
    inputs: &[Output],
) -> Result<Vec<Option<View>>, WorkerError> {
    let mut views = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.iter().enumerate() {
        let used = actions
            .iter()
            .any(|a| matches!(a, FileAction::Copy(c) if c.input == i));
        views.push(match input {
            Output::Chain(c) if used => {
                Some(View::new(store.root(), &c.lowerdirs(store).map_err(err)?).map_err(err)?)
            }
            _ => None,
        });
    }
    Ok(views)
}

/// Where a copy from step input `input` reads from, with its `--exclude` patterns.
fn copy_source<'a>(
    inputs: &'a [Output],
    views: &'a [Option<View>],
    input: usize,
    exclude: &[String],
) -> Result<CopySource<'a>, WorkerError> {
    let bad = |e: crate::context::PatternError| {
        WorkerError::new(format!("COPY --exclude or .dockerignore pattern: {e}"))
    };
    match inputs.get(input) {
        Some(Output::Context(ctx)) => Ok(CopySource {
            root: &ctx.root,
            excludes: Matcher::from_patterns(&ctx.excludes).map_err(bad)?,
            exclude: Matcher::from_patterns(exclude).map_err(bad)?,
            from_context: true,
        }),
        Some(Output::Chain(_)) => match views.get(input) {
            Some(Some(v)) => Ok(CopySource {
                root: v.root(),
                excludes: Matcher::default(),
                exclude: Matcher::from_patterns(exclude).map_err(bad)?,
                from_context: false,
            }),
            _ => Err(WorkerError::new(format!("copy input {input} has no view"))),
        },
        None => Err(WorkerError::new(format!(
            "file action refers to input {input}, which the step does not have"
        ))),
    }
}

/// A step of copies only, streamed from the source files into the layer blob: nothing is
/// written to disk but the blob. `Ok(None)` when a copy needs a real directory (see
/// `copy_layer`); the caller then takes the overlay path.
fn stream_copy_step(
    store: &Store,
    lease: Option<&Lease>,
    base: &Chain,
    actions: &[FileAction],
    inputs: &[Output],
    unpack: bool,
) -> Result<Option<Chain>, WorkerError> {
    let copies: Vec<&Copy> = actions
        .iter()
        .filter_map(|a| match a {
            FileAction::Copy(c) => Some(c),
            _ => None,
        })
        .collect();
    if copies.len() != actions.len() {
        return Ok(None);
    }
    let views = copy_views(store, actions, inputs)?;
    let base_view = View::new(store.root(), &base.lowerdirs(store).map_err(err)?).map_err(err)?;
    let mut dest = LayerDest::new(base_view.root());
    for c in copies {
        let src = copy_source(inputs, &views, c.input, &c.exclude)?;
        let owner = c
            .owner
            .as_ref()
            .map(|o| resolve_owner(base_view.root(), o))
            .transpose()
            .map_err(err)?;
        match copy_into(c, &src, &mut dest, owner) {
            Ok(()) => {}
            Err(CopyError::NeedsTree(why)) => {
                tracing::debug!("copy through an overlay directory: {why}");
                return Ok(None);
            }
            Err(e) => return Err(err(e)),
        }
    }
    let entries = match dest.finish() {
        Ok(e) => e,
        Err(CopyError::NeedsTree(why)) => {
            tracing::debug!("copy through an overlay directory: {why}");
            return Ok(None);
        }
        Err(e) => return Err(err(e)),
    };
    // The sources are read while the views are still mounted.
    let chain = if unpack {
        let dir = step_dir(store.root()).map_err(err)?;
        let layer = dir.path().join("layer");
        std::fs::create_dir(&layer)
            .map_err(|e| WorkerError::with_source(format!("creating {}", layer.display()), e))?;
        store_layer(store, lease, base, &entries, Some(&layer))?
    } else {
        store_layer(store, lease, base, &entries, None)?
    };
    drop(views);
    Ok(Some(chain))
}

/// Run a File op on top of input 0. `unpack`: a later step reads the result as files.
pub fn run_file_step(
    store: &Store,
    lease: Option<&Lease>,
    actions: &[FileAction],
    inputs: &[Output],
    unpack: bool,
) -> Result<Chain, WorkerError> {
    let base = input_chain(inputs, 0)?.clone();
    if let Some(chain) = stream_copy_step(store, lease, &base, actions, inputs, unpack)? {
        return Ok(chain);
    }
    let dir = step_dir(store.root()).map_err(err)?;
    let upper = dir.path().join("upper");
    let work = dir.path().join("work");
    let merged = dir.path().join("merged");
    for d in [&upper, &work, &merged] {
        std::fs::create_dir(d)
            .map_err(|e| WorkerError::with_source(format!("creating {}", d.display()), e))?;
    }
    let views = copy_views(store, actions, inputs)?;
    {
        // An empty base needs no overlay: the upper dir is the whole new filesystem.
        let _mounted;
        let root: &Path = if base.layers.is_empty() {
            &upper
        } else {
            let lower = base.lowerdirs(store).map_err(err)?;
            _mounted = OverlayMount::mount(&lower, Some((&upper, &work)), &merged).map_err(err)?;
            &merged
        };
        let source = |i: usize, exclude: &[String]| -> Option<CopySource<'_>> {
            copy_source(inputs, &views, i, exclude).ok()
        };
        apply(root, actions, &source).map_err(err)?;
    }
    drop(views);
    commit_layer(store, lease, &base, &upper)
}
