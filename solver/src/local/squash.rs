//! `--squash`: everything a build added above its base image as one layer. The layer is
//! the difference between two read-only views — the base image's filesystem and the
//! result's — so files added and removed again leave nothing, and base files the build
//! deleted become whiteouts; no layer is unpacked twice and nothing is copied to disk.
//!
//! API: [`base_len`], [`squash_chain`], [`squash_history`], [`SquashError`].

use kiln_cache::layer::diff::diff_trees;
use kiln_cache::layer::LayerError;
use kiln_cache::lease::Lease;
use kiln_cache::{Store, StoreError};
use kiln_frontend::graph::{Graph, HistoryEntry, Op, Source};

use super::chain::{Chain, ChainError};
use super::entries_layer::write_entries_layer;
use super::mount::{MountError, View};

#[derive(Debug, thiserror::Error)]
pub enum SquashError {
    #[error("--squash: {0}")]
    Chain(#[from] ChainError),
    #[error("--squash: {0}")]
    Mount(#[from] MountError),
    #[error("--squash: comparing the base image with the result: {0}")]
    Diff(#[from] kiln_cache::layer::DiffError),
    #[error("--squash: writing the squashed layer: {0}")]
    Layer(#[from] LayerError),
    #[error("--squash: {0}")]
    Store(#[from] StoreError),
}

/// How many of `chain`'s bottom layers are a base image's: the longest chain of an image
/// the graph starts from that is a prefix of `chain` (0 for `FROM scratch`).
pub fn base_len(store: &Store, graph: &Graph, chain: &Chain) -> usize {
    let ids = chain.diff_ids();
    graph
        .vertices()
        .filter_map(|v| match &v.op {
            Op::Source(Source::Image { reference, .. }) => Some(reference),
            _ => None,
        })
        .filter_map(|r| {
            let image = store.resolve_image(r).ok()?;
            Chain::of_image(store, &image).ok()
        })
        .map(|c| c.diff_ids())
        .filter(|base| ids.starts_with(base))
        .map(|base| base.len())
        .max()
        .unwrap_or(0)
}

/// `chain` with its layers above `base_len` replaced by one. Unchanged when there is at
/// most one such layer.
pub fn squash_chain(
    store: &Store,
    lease: Option<&Lease>,
    chain: &Chain,
    base_len: usize,
) -> Result<Chain, SquashError> {
    if chain.layers.len() <= base_len + 1 {
        return Ok(chain.clone());
    }
    let base = Chain {
        layers: chain.layers[..base_len].to_vec(),
    };
    let before = View::new(store.root(), &base.lowerdirs(store)?)?;
    let after = View::new(store.root(), &chain.lowerdirs(store)?)?;
    let entries = diff_trees(before.root(), after.root())?;
    let mut layer = write_entries_layer::<SquashError>(store, lease, &entries)?;
    // The squashed layer is as new as the newest step in it: a cached rebuild keeps it.
    layer.created = chain
        .layers
        .iter()
        .skip(base_len)
        .filter_map(|l| l.created)
        .max();
    tracing::debug!(
        layers = chain.layers.len() - base_len,
        entries = entries.len(),
        blob = %layer.blob,
        "squashed"
    );
    Ok(base.with(layer))
}

/// History matching a squashed chain: the base's entries as they were, and of the build's
/// own entries only the last one that made a layer keeps it (Docker's `--squash` shape);
/// the others stay, marked `empty_layer`, so `history` still shows every instruction.
pub fn squash_history(history: &[HistoryEntry], base_len: usize) -> Vec<HistoryEntry> {
    let mut seen = 0;
    let mut own_layers = Vec::new();
    for (i, h) in history.iter().enumerate() {
        if !h.empty_layer {
            if seen >= base_len {
                own_layers.push(i);
            }
            seen += 1;
        }
    }
    if own_layers.len() <= 1 {
        return history.to_vec();
    }
    let keep = own_layers.last().copied();
    history
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let mut h = h.clone();
            if own_layers.contains(&i) && Some(i) != keep {
                h.empty_layer = true;
            }
            h
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(by: &str, empty: bool) -> HistoryEntry {
        HistoryEntry {
            created_by: by.into(),
            comment: String::new(),
            empty_layer: empty,
        }
    }

    #[test]
    fn only_the_last_own_layer_entry_keeps_its_layer() {
        let h = vec![
            entry("base layer", false),
            entry("CMD sh", true),
            entry("RUN a", false),
            entry("ENV x", true),
            entry("COPY b", false),
        ];
        let s = squash_history(&h, 1);
        let flags: Vec<bool> = s.iter().map(|e| e.empty_layer).collect();
        assert_eq!(flags, vec![false, true, true, true, false]);
        // One own layer: nothing to change.
        assert_eq!(squash_history(&h[..3], 1), h[..3].to_vec());
    }
}
