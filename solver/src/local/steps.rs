//! Running Exec and File steps into new chains: each prepares a root (overlay of the input
//! chain's snapshots), lets the step change it, and turns the upper dir into a layer.

use std::path::Path;

use kiln_cache::layer::{diff::diff_overlay_upper, write_layer, Compression, TarOptions};
use kiln_cache::lease::Lease;
use kiln_cache::Store;
use kiln_frontend::graph::{Exec, FileAction};

use super::chain::{Chain, Layer, LAYER_MEDIA_TYPE};
use super::copy::CopySource;
use super::exec::{run_exec, ExecInput};
use super::fileop::apply;
use super::mount::{step_dir, OverlayMount, View};
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
    let _guard = store.write_guard().map_err(err)?;
    let blob = write_layer(
        store.content(),
        &entries,
        TarOptions::from_env(),
        Compression::Gzip,
    )
    .map_err(err)?;
    store
        .record_layer_blob(&blob.diff_id, &blob.digest, LAYER_MEDIA_TYPE)
        .map_err(err)?;
    // Leased while the write guard still keeps GC out: nothing references the blob yet.
    if let Some(l) = lease {
        store.lease_blob(l, &blob.digest).map_err(err)?;
    }
    let chain = base.with(Layer {
        diff_id: blob.diff_id,
        blob: blob.digest,
        size: blob.size,
        media_type: LAYER_MEDIA_TYPE.into(),
    });
    // The upper dir already is this layer in overlay form: keep it as the snapshot a
    // later step stacks, instead of unpacking the blob again (only an optimisation).
    if let Err(e) = store.adopt_snapshot(&chain.diff_ids(), upper) {
        tracing::warn!("keeping the step's upper dir as a snapshot: {e}");
    }
    Ok(chain)
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
        },
        ctx,
    )
    .await?;
    let chain = blocking(|| commit_layer(&store, w.lease.as_ref(), &base, &result.upper))?;
    drop(result);
    Ok(chain)
}

pub fn run_file_step(
    store: &Store,
    lease: Option<&Lease>,
    actions: &[FileAction],
    inputs: &[Output],
) -> Result<Chain, WorkerError> {
    let base = input_chain(inputs, 0)?.clone();
    let dir = step_dir(store.root()).map_err(err)?;
    let upper = dir.path().join("upper");
    let work = dir.path().join("work");
    let merged = dir.path().join("merged");
    for d in [&upper, &work, &merged] {
        std::fs::create_dir(d)
            .map_err(|e| WorkerError::with_source(format!("creating {}", d.display()), e))?;
    }
    // Views of the other inputs that copies read from, made before the root is mounted.
    let mut views: Vec<Option<View>> = Vec::with_capacity(inputs.len());
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
            match inputs.get(i)? {
                Output::Context(c) => {
                    let mut pats = c.excludes.clone();
                    pats.extend(exclude.iter().cloned());
                    Some(CopySource {
                        root: &c.root,
                        excludes: Matcher::from_patterns(&pats).ok()?,
                        from_context: true,
                    })
                }
                Output::Chain(_) => Some(CopySource {
                    root: views.get(i)?.as_ref()?.root(),
                    excludes: Matcher::from_patterns(exclude).ok()?,
                    from_context: false,
                }),
            }
        };
        apply(root, actions, &source).map_err(err)?;
    }
    drop(views);
    commit_layer(store, lease, &base, &upper)
}
