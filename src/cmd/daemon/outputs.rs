//! A daemon build's `--output`s for its client: each written as one file in the build's
//! output directory, named by its index, which the client fetches and writes at its own
//! `dest` (the daemon may not see the client's filesystem at all). `local` outputs travel
//! as a tar of the filesystem, which the client unpacks; `tar`, `oci` and `docker` as the
//! file the in-process build would have written.

use std::path::Path;

use kiln_cache::lease::Lease;
use kiln_cache::{ImageRecord, Reference, Store};
use kiln_solver::local::export::ImageMeta;

use crate::cmd::build::finish::Finished;
use crate::cmd::build::output::{self, OutputSpec};

/// What the image written for the build needs to become its outputs.
pub struct Written<'a> {
    pub finished: &'a Finished,
    pub image: &'a ImageRecord,
    pub meta: &'a ImageMeta,
    /// The `-t` names (an archive carries them).
    pub names: &'a [Reference],
    pub lease: &'a Lease,
}

/// Write every non-image output into `dir`; the indexes of those written.
pub fn write(
    store: &Store,
    w: &Written<'_>,
    specs: &[OutputSpec],
    dir: &Path,
) -> anyhow::Result<Vec<usize>> {
    let mut written = Vec::new();
    for (n, spec) in specs.iter().enumerate() {
        let file = dir.join(n.to_string());
        match spec {
            OutputSpec::Image { .. } => continue,
            OutputSpec::Archive { layers, .. } => w.finished.write_archive(
                store,
                Some(w.lease),
                w.image,
                w.meta,
                layers,
                w.names,
                &file,
            )?,
            OutputSpec::Local { .. } | OutputSpec::Tar { .. } => {
                output::write_tar(store, &w.finished.chain, &file)?
            }
        }
        written.push(n);
    }
    Ok(written)
}
