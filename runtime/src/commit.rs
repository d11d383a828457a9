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
    #[error("invalid --change {change:?}: {why}")]
    Change { change: String, why: String },
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

/// JSON array form, or shell form wrapped in `/bin/sh -c`.
fn command_form(rest: &str) -> Vec<String> {
    match serde_json::from_str::<Vec<String>>(rest) {
        Ok(v) => v,
        Err(_) => vec!["/bin/sh".into(), "-c".into(), rest.to_string()],
    }
}

/// Applies one Dockerfile instruction to an image's runtime config.
pub fn apply_change(cc: &mut ImageRuntimeConfig, change: &str) -> Result<(), CommitError> {
    let bad = |why: &str| CommitError::Change {
        change: change.to_string(),
        why: why.to_string(),
    };
    let (instr, rest) = change
        .trim()
        .split_once(char::is_whitespace)
        .ok_or_else(|| bad("expected INSTRUCTION arguments"))?;
    let rest = rest.trim();
    match instr.to_ascii_uppercase().as_str() {
        "CMD" => cc.cmd = Some(command_form(rest)),
        "ENTRYPOINT" => cc.entrypoint = Some(command_form(rest)),
        "WORKDIR" => cc.working_dir = Some(rest.to_string()),
        "USER" => cc.user = Some(rest.to_string()),
        "STOPSIGNAL" => cc.stop_signal = Some(rest.to_string()),
        "ENV" => {
            let pairs: Vec<(String, String)> = if rest.contains('=') {
                rest.split_whitespace()
                    .map(|kv| {
                        kv.split_once('=')
                            .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
                            .ok_or_else(|| bad("ENV takes KEY=value pairs"))
                    })
                    .collect::<Result<_, _>>()?
            } else {
                let (k, v) = rest
                    .split_once(char::is_whitespace)
                    .ok_or_else(|| bad("ENV takes KEY=value or KEY value"))?;
                vec![(k.to_string(), v.trim().to_string())]
            };
            let env = cc.env.get_or_insert_with(Vec::new);
            for (k, v) in pairs {
                env.retain(|e| e.split('=').next() != Some(k.as_str()));
                env.push(format!("{k}={v}"));
            }
        }
        "LABEL" => {
            let labels = cc.labels.get_or_insert_with(Default::default);
            for kv in rest.split_whitespace() {
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| bad("LABEL takes key=value pairs"))?;
                labels.insert(k.to_string(), v.trim_matches('"').to_string());
            }
        }
        "EXPOSE" => {
            let ports = cc.exposed_ports.get_or_insert_with(Default::default);
            for p in rest.split_whitespace() {
                let p = if p.contains('/') {
                    p.to_string()
                } else {
                    format!("{p}/tcp")
                };
                ports.insert(p, serde_json::json!({}));
            }
        }
        "VOLUME" => {
            let vols = cc.volumes.get_or_insert_with(Default::default);
            let paths = serde_json::from_str::<Vec<String>>(rest)
                .unwrap_or_else(|_| rest.split_whitespace().map(str::to_string).collect());
            for p in paths {
                vols.insert(p, serde_json::json!({}));
            }
        }
        _ => {
            return Err(bad(
                "supported: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR",
            ))
        }
    }
    Ok(())
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
