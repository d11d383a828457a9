//! Named contexts (`--build-context`) beyond what the compiler does with them: the
//! images of `docker-image://` ones pulled before the solve, and, in the daemon, the
//! request's contexts and where each local source's files are in the upload.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use kiln_cache::Store;
use kiln_daemon::api::{BuildRequest, NamedContextSpec};
use kiln_frontend::compile::reference::normalize;
use kiln_frontend::compile::{local_source_name, NamedContext};
use kiln_frontend::graph::{Graph, Op, Source};

use super::pull::BasePuller;

/// Images of `docker-image://` contexts that `COPY --from` or `RUN --mount=from=` read,
/// pulled when the store lacks them as a FROM image is (the compiler resolves FROM images
/// itself; the solver only reads the store).
pub fn fetch_images(
    puller: &BasePuller,
    store: &Store,
    graph: &Graph,
    named: &BTreeMap<String, NamedContext>,
) -> anyhow::Result<()> {
    let wanted: Vec<String> = named
        .values()
        .filter_map(|c| match c {
            NamedContext::Image(r) => normalize(r).ok(),
            NamedContext::Local { .. } => None,
        })
        .collect();
    for v in graph.vertices() {
        let Op::Source(Source::Image {
            reference,
            platform,
        }) = &v.op
        else {
            continue;
        };
        if wanted.contains(reference) && puller.wants(store, reference) {
            puller
                .pull(store, reference, platform)
                .with_context(|| format!("the named context image {reference}"))?;
        }
    }
    Ok(())
}

/// The request's named contexts for the compiler, and the local sources uploaded in
/// directories of their own (none when the upload is the main context alone).
pub fn from_request(req: &BuildRequest) -> (BTreeMap<String, NamedContext>, Vec<String>) {
    let mut named = BTreeMap::new();
    let mut sources = Vec::new();
    for (name, spec) in &req.named_contexts {
        let context = match spec {
            NamedContextSpec::Local { exclude } => {
                sources.push(local_source_name(name));
                NamedContext::Local {
                    exclude: exclude.clone(),
                }
            }
            NamedContextSpec::Image { reference } => NamedContext::Image(reference.clone()),
        };
        named.insert(name.clone(), context);
    }
    if req.uploads_by_source() {
        sources.push("context".to_string());
    }
    (named, sources)
}

/// Each local source's directory in the unpacked upload; created when the build selected
/// none of its files (the tar then has no entry under it).
pub fn upload_locals(
    upload: &std::path::Path,
    sources: &[String],
) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    use anyhow::Context;
    let mut locals = BTreeMap::new();
    if sources.is_empty() {
        locals.insert("context".to_string(), upload.to_path_buf());
        return Ok(locals);
    }
    for name in sources {
        let dir = upload.join(BuildRequest::upload_dir(name));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("creating {} for the upload", dir.display()))?;
        locals.insert(name.clone(), dir);
    }
    Ok(locals)
}
