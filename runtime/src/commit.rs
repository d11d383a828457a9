//! `commit`: a container's changes as a new image layer on top of its image, with the
//! container's environment and `-c` changes (Dockerfile instructions) in the new config.

use crate::changes::hidden_path;
use crate::config::ContainerPaths;
use crate::record::ContainerRecord;
use crate::timefmt::format_nanos;
use kiln_cache::image::spec::{chain_ids, ContainerConfig as ImageRuntimeConfig, History};
use kiln_cache::layer::diff::{diff_overlay_upper, DiffError};
use kiln_cache::layer::{Compression, LayerBlob, TarOptions};
use kiln_cache::{Digest, ImageRecord, Reference, Store, StoreError};
use std::time::SystemTime;

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Diff(#[from] DiffError),
    #[error("container {id}: image {digest} is no longer in the store")]
    ImageGone { id: String, digest: String },
    #[error("invalid image reference {reference:?}: {detail}")]
    Reference { reference: String, detail: String },
}

#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    /// Dockerfile instructions applied to the config (`CMD`, `ENTRYPOINT`, `ENV`, ...).
    pub changes: Vec<String>,
    pub message: Option<String>,
    pub author: Option<String>,
    pub reference: Option<String>,
}

pub fn commit(
    store: &Store,
    rec: &ContainerRecord,
    req: &CommitRequest,
) -> Result<ImageRecord, CommitError> {
    let gone = || CommitError::ImageGone {
        id: rec.id.clone(),
        digest: rec.image_digest.clone(),
    };
    let digest: Digest = rec.image_digest.parse().map_err(|_| gone())?;
    let base = store.image_by_manifest(&digest)?.ok_or_else(gone)?;
    let manifest = store.read_manifest(&base.manifest_digest)?;
    let mut config = store.read_config(&base.config_digest)?;
    let names = match &req.reference {
        Some(r) => vec![Reference::parse(r).map_err(|e| CommitError::Reference {
            reference: r.clone(),
            detail: e.to_string(),
        })?],
        None => Vec::new(),
    };

    let upper = ContainerPaths::new(store.root(), &rec.id).upper();
    let entries: Vec<_> = diff_overlay_upper(&upper)?
        .into_iter()
        .filter(|e| !hidden_path(rec, &format!("/{}", e.path.display())))
        .collect();
    let parent = chain_ids(&config.rootfs.diff_ids).pop();
    let layer = store.commit_layer(
        parent.as_ref(),
        &entries,
        TarOptions::from_env(),
        Compression::Gzip,
        None,
    )?;
    let mut layers: Vec<LayerBlob> = manifest
        .layers
        .iter()
        .zip(&config.rootfs.diff_ids)
        .map(|(d, diff_id)| LayerBlob {
            digest: d.digest.clone(),
            diff_id: diff_id.clone(),
            size: d.size,
            uncompressed_size: 0,
            compression: if d.media_type.contains("zstd") {
                Compression::Zstd
            } else if d.media_type.contains("gzip") {
                Compression::Gzip
            } else {
                Compression::None
            },
            media_type: d.media_type.clone(),
        })
        .collect();
    layers.push(layer.blob.clone());

    let now = format_nanos(SystemTime::now());
    config.created = Some(now.clone());
    if req.author.is_some() {
        config.author = req.author.clone();
    }
    config.rootfs.diff_ids.push(layer.blob.diff_id.clone());
    config.history.push(History {
        created: Some(now),
        created_by: Some(format!("kiln commit {}", rec.config.args.join(" "))),
        author: req.author.clone(),
        comment: req.message.clone(),
        empty_layer: false,
    });
    let mut cc = config.config.take().unwrap_or_default();
    cc.env = Some(rec.config.env.clone());
    for c in &req.changes {
        apply_change(&mut cc, c)?;
    }
    config.config = Some(cc);
    Ok(store.commit_image(&config, &layers, &names)?)
}

/// Applies one Dockerfile instruction to an image's runtime config: the same `--change`
/// language as `kiln import`, from the store.
pub fn apply_change(cc: &mut ImageRuntimeConfig, change: &str) -> Result<(), CommitError> {
    Ok(kiln_cache::archive::import::apply_change(cc, change)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_dockerfile_changes() {
        let mut cc = ImageRuntimeConfig {
            env: Some(vec!["A=1".into()]),
            ..Default::default()
        };
        apply_change(&mut cc, r#"CMD ["cat", "/x"]"#).unwrap();
        assert_eq!(cc.cmd, Some(vec!["cat".to_string(), "/x".to_string()]));
        apply_change(&mut cc, "ENTRYPOINT echo hi").unwrap();
        assert_eq!(cc.entrypoint.as_ref().unwrap()[2], "echo hi");
        apply_change(&mut cc, "ENV A=2 B=3").unwrap();
        assert_eq!(cc.env, Some(vec!["A=2".to_string(), "B=3".to_string()]));
        apply_change(&mut cc, "env C four").unwrap();
        assert!(cc.env.as_ref().unwrap().contains(&"C=four".to_string()));
        apply_change(&mut cc, "EXPOSE 80 53/udp").unwrap();
        assert!(cc.exposed_ports.as_ref().unwrap().contains_key("80/tcp"));
        apply_change(&mut cc, "LABEL a=b").unwrap();
        assert_eq!(cc.labels.as_ref().unwrap()["a"], "b");
        assert!(apply_change(&mut cc, "RUN true").is_err());
        assert!(apply_change(&mut cc, "CMD").is_err());
    }
}
