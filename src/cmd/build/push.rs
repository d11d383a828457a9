//! `kiln build --push` and `--output type=image,name=R,push=true`: the built image goes to
//! the registry of every name it was given, blobs the registry has are skipped, and a
//! second repository of the same registry mounts the blobs the first one received (as
//! does the first, for blobs of store images named on that registry, e.g. its base).

use anyhow::{bail, Context};
use kiln_cache::image::records::MAX_DOCUMENT;
use kiln_cache::image::spec::media;
use kiln_cache::{Digest, ImageRecord, Reference, Store};
use kiln_registry::{BlobSource, Manifest, PushOutcome, ReferenceExt, RegistryClient, Repository};
use kiln_solver::remote::sources::MountSources;
use kiln_solver::remote::RemoteCaches;

/// What an `--output type=image` spec asks beyond storing the image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageOutput {
    pub names: Vec<Reference>,
    pub push: bool,
}

/// The image options of `spec` (`name=`, repeatable, and `push=`), or `None` when it is
/// not an image output. `type=registry` is an image output pushed unless `push=false`, as
/// in buildx. Other fields are left to `output::parse`.
pub fn image_output(spec: &str) -> anyhow::Result<Option<ImageOutput>> {
    if !spec.contains('=') {
        return Ok(None);
    }
    let mut out = ImageOutput::default();
    let mut is_image = true;
    let mut push = None;
    for field in spec.split(',') {
        match field.split_once('=') {
            Some(("type", t)) => {
                is_image = matches!(t, "image" | "registry");
                out.push = t == "registry";
            }
            Some(("name", n)) => out.names.push(
                Reference::parse(n).with_context(|| format!("--output {spec:?}: name {n:?}"))?,
            ),
            Some(("push", v)) => {
                push = Some(match v {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => bail!("--output {spec:?}: push={v} must be true or false"),
                })
            }
            _ => {}
        }
    }
    // An explicit push= wins over the type's default, wherever it stands in the spec.
    if let Some(p) = push {
        out.push = p;
    }
    Ok(is_image.then_some(out))
}

/// Push `image` under each of `names`; returns the manifest digest the registries filed
/// it by, per name.
pub async fn push_image(
    client: &RegistryClient,
    store: &Store,
    image: &ImageRecord,
    names: &[Reference],
) -> anyhow::Result<Vec<(Reference, Digest)>> {
    let bytes = store
        .content()
        .read_limited(&image.manifest_digest, MAX_DOCUMENT)?;
    let Manifest::Image(manifest) = Manifest::parse(&image.media_type, &bytes)? else {
        bail!(
            "the built image {} is an index; kiln pushes single-platform images",
            image.manifest_digest
        );
    };
    let blobs: Vec<_> = std::iter::once(&manifest.config)
        .chain(
            manifest
                .layers
                .iter()
                .filter(|l| l.media_type != media::DOCKER_FOREIGN_LAYER),
        )
        .map(|d| (d.clone(), BlobSource::File(store.content().path(&d.digest))))
        .collect();
    let mut pushed: Vec<(Reference, Digest)> = Vec::new();
    let mut done_repos: Vec<Repository> = Vec::new();
    for name in names {
        if name.digest.is_some() {
            bail!("cannot push to a digest reference ({name}); name a tag");
        }
        // --push and an output may both name the same tag: push it once.
        if pushed.iter().any(|(n, _)| n == name) {
            continue;
        }
        let repo = name.repo();
        if !done_repos.contains(&repo) {
            // A repository of the same registry pushed already holds every blob.
            let from = done_repos
                .iter()
                .find(|r| r.registry == repo.registry)
                .cloned();
            // Blobs another repository of the registry holds (the base image pulled from
            // it) are mounted from there; listing the store is blocking work.
            let known = tokio::task::block_in_place(|| {
                MountSources::for_target(store, &RemoteCaches::default(), &repo)
            });
            let outcomes = client
                .push_blobs_mounting(&repo, &blobs, |d| {
                    from.clone().or_else(|| known.get(&d.digest))
                })
                .await
                .with_context(|| format!("pushing the layers of {name}"))?;
            let mounted = outcomes
                .iter()
                .filter(|o| matches!(o, PushOutcome::Mounted))
                .count();
            tracing::info!(%name, blobs = outcomes.len(), mounted, "pushed blobs");
            done_repos.push(repo);
        }
        let digest = client
            .put_manifest(name, &image.media_type, bytes.clone().into())
            .await
            .with_context(|| format!("pushing the manifest of {name}"))?;
        pushed.push((name.clone(), digest));
    }
    Ok(pushed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_image_output_options() {
        let o = image_output("type=image,name=reg:5000/a:1,name=reg:5000/b:2,push=true")
            .unwrap()
            .unwrap();
        assert!(o.push);
        assert_eq!(o.names.len(), 2);
        assert_eq!(o.names[1].to_string(), "reg:5000/b:2");
        assert_eq!(image_output("type=local,dest=x").unwrap(), None);
        assert_eq!(image_output("dir").unwrap(), None);
        assert!(image_output("type=image,push=maybe").is_err());
        assert!(!image_output("type=image").unwrap().unwrap().push);
        let r = image_output("type=registry,name=reg:5000/c:3")
            .unwrap()
            .unwrap();
        assert!(r.push, "type=registry pushes");
        assert_eq!(r.names[0].to_string(), "reg:5000/c:3");
        assert!(
            image_output("push=true,type=registry")
                .unwrap()
                .unwrap()
                .push
        );
        assert!(
            !image_output("type=registry,push=false")
                .unwrap()
                .unwrap()
                .push
        );
    }
}
