//! From a solved chain to the layers the outputs get: `--squash` (one layer above the base
//! image), SOURCE_DATE_EPOCH (mtimes in the build's layers clamped, image and history
//! times pinned) and each output's layer compression. The solved chain and the cache stay
//! as built; only what is exported changes.

use std::path::Path;

use anyhow::Context;
use kiln_cache::lease::Lease;
use kiln_cache::{ImageRecord, Reference, Store};
use kiln_frontend::graph::{Graph, HistoryEntry};
use kiln_solver::local::convert::{convert_chain, LayerOptions};
use kiln_solver::local::export::{write_image, ImageMeta};
use kiln_solver::local::squash::{base_len, squash_chain, squash_history};
use kiln_solver::local::Chain;

use super::output::{write_archive, OutputSpec};

/// SOURCE_DATE_EPOCH from `--build-arg` (which wins, as buildx passes the environment's
/// value as a build arg) or the environment.
pub fn source_date_epoch(
    build_args: &std::collections::BTreeMap<String, String>,
) -> anyhow::Result<Option<i64>> {
    let (value, from) = match build_args.get("SOURCE_DATE_EPOCH") {
        Some(v) => (v.clone(), "--build-arg SOURCE_DATE_EPOCH"),
        None => match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) => (v, "the SOURCE_DATE_EPOCH environment variable"),
            Err(_) => return Ok(None),
        },
    };
    if value.trim().is_empty() {
        return Ok(None);
    }
    let t: i64 = value
        .trim()
        .parse()
        .with_context(|| format!("{from}={value:?} is not a number of seconds since 1970-01-01"))?;
    anyhow::ensure!(
        t >= 0,
        "{from}={t} is before 1970-01-01; give a non-negative number of seconds"
    );
    Ok(Some(t))
}

/// The build's result prepared for export.
pub struct Finished {
    /// The layers the image output gets (squashed, clamped and compressed as asked).
    pub chain: Chain,
    /// Squashed (if asked) but not converted: what other outputs convert from.
    own: Chain,
    base_len: usize,
    squashed: bool,
    epoch: Option<i64>,
    image_layers: LayerOptions,
}

/// The layer options of the image output (the first one, if several), with the epoch.
fn image_layers(outputs: &[OutputSpec], epoch: Option<i64>) -> LayerOptions {
    let layers = outputs
        .iter()
        .find_map(|o| match o {
            OutputSpec::Image { layers } => Some(*layers),
            _ => None,
        })
        .unwrap_or_default();
    LayerOptions {
        source_date_epoch: epoch,
        ..layers
    }
}

pub fn finish(
    store: &Store,
    lease: Option<&Lease>,
    graph: &Graph,
    chain: &Chain,
    squash: bool,
    outputs: &[OutputSpec],
    epoch: Option<i64>,
) -> anyhow::Result<Finished> {
    let base = base_len(store, graph, chain);
    let own = if squash {
        squash_chain(store, lease, chain, base)?
    } else {
        chain.clone()
    };
    let image_layers = image_layers(outputs, epoch);
    let converted = convert_chain(store, lease, &own, base, &image_layers)?;
    Ok(Finished {
        chain: converted,
        own,
        base_len: base,
        squashed: squash,
        epoch,
        image_layers,
    })
}

impl Finished {
    /// The history matching the exported layers.
    pub fn history(&self, history: &[HistoryEntry]) -> Vec<HistoryEntry> {
        if self.squashed {
            squash_history(history, self.base_len)
        } else {
            history.to_vec()
        }
    }

    /// An archive output: the image itself when its layers are what the archive wants,
    /// else an untagged image with the archive's layers.
    #[allow(clippy::too_many_arguments)]
    pub fn write_archive(
        &self,
        store: &Store,
        lease: Option<&Lease>,
        image: &ImageRecord,
        meta: &ImageMeta,
        layers: &LayerOptions,
        names: &[Reference],
        dest: &Path,
    ) -> anyhow::Result<()> {
        let wanted = LayerOptions {
            source_date_epoch: self.epoch,
            ..*layers
        };
        if wanted == self.image_layers {
            return write_archive(store, image, names, dest);
        }
        let chain = convert_chain(store, lease, &self.own, self.base_len, &wanted)?;
        let other = write_image(store, &chain, meta, &[])?;
        write_archive(store, &other, names, dest)
    }
}
