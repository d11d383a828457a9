//! `kiln import`: a root filesystem tar (plain or compressed) becomes a one-layer image, with
//! Dockerfile-style `--change` instructions applied to its config.

use std::collections::BTreeMap;
use std::io::Read;

use crate::image::records::ImageRecord;
use crate::image::spec::{host_platform, ContainerConfig, History, ImageConfig, RootFs};
use crate::image::time::format_rfc3339;
use crate::layer::compress::decompress;
use crate::layer::{write_layer_with, Compression, LayerError};
use crate::reference::Reference;
use crate::store::{Store, StoreError};

pub struct ImportOptions {
    pub name: Option<Reference>,
    pub changes: Vec<String>,
    pub message: Option<String>,
    /// Shown in history ("-" for stdin, or the file name).
    pub source: String,
    pub compression: Compression,
    /// Seconds since the epoch for `created`; `None` uses SOURCE_DATE_EPOCH or now.
    pub created: Option<i64>,
}

fn bad(change: &str, why: &str) -> StoreError {
    StoreError::Archive(format!("--change {change:?}: {why}; supported: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL"))
}

/// JSON array form (`["a","b"]`) or shell form (run with `/bin/sh -c`).
fn command_words(arg: &str) -> Vec<String> {
    if let Ok(v) = serde_json::from_str::<Vec<String>>(arg) {
        return v;
    }
    vec!["/bin/sh".into(), "-c".into(), arg.to_string()]
}

/// `k=v k2="v 2"` or the legacy `k v` form. A word without `=` in the first form, or a
/// legacy key without a value, is an error, as in a Dockerfile.
fn key_values(arg: &str) -> Result<Vec<(String, String)>, &'static str> {
    if !arg.contains('=') {
        return match arg.split_once(char::is_whitespace) {
            Some((k, v)) => Ok(vec![(k.to_string(), v.trim().to_string())]),
            None => Err("expected KEY=value pairs or KEY value"),
        };
    }
    let mut out = Vec::new();
    let mut chars = arg.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() && chars.peek().is_none() {
            break;
        }
        if key.is_empty() || chars.next() != Some('=') {
            return Err("every word must be KEY=value");
        }
        let mut val = String::new();
        let quote = chars.peek().copied().filter(|c| *c == '"' || *c == '\'');
        if let Some(q) = quote {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' if q == '"' => val.extend(chars.next()),
                    c if c == q => break,
                    c => val.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                val.push(c);
                chars.next();
            }
        }
        out.push((key, val));
    }
    Ok(out)
}

/// Apply one Dockerfile instruction (`--change` of `import` and `commit`) to a config.
pub fn apply_change(cfg: &mut ContainerConfig, change: &str) -> Result<(), StoreError> {
    let (instr, arg) = change
        .trim()
        .split_once(char::is_whitespace)
        .ok_or_else(|| bad(change, "expected INSTRUCTION ARGUMENTS"))?;
    let arg = arg.trim();
    match instr.to_ascii_uppercase().as_str() {
        "CMD" => cfg.cmd = Some(command_words(arg)),
        "ENTRYPOINT" => cfg.entrypoint = Some(command_words(arg)),
        "USER" => cfg.user = Some(arg.to_string()),
        "WORKDIR" => cfg.working_dir = Some(arg.to_string()),
        "STOPSIGNAL" => cfg.stop_signal = Some(arg.to_string()),
        "ENV" => {
            let env = cfg.env.get_or_insert_with(Vec::new);
            for (k, v) in key_values(arg).map_err(|why| bad(change, why))? {
                env.retain(|e| e.split('=').next() != Some(k.as_str()));
                env.push(format!("{k}={v}"));
            }
        }
        "LABEL" => {
            let labels = cfg.labels.get_or_insert_with(BTreeMap::new);
            labels.extend(key_values(arg).map_err(|why| bad(change, why))?);
        }
        "EXPOSE" => {
            let ports = cfg.exposed_ports.get_or_insert_with(BTreeMap::new);
            for p in arg.split_whitespace() {
                let p = if p.contains('/') {
                    p.to_string()
                } else {
                    format!("{p}/tcp")
                };
                ports.insert(p, serde_json::json!({}));
            }
        }
        "VOLUME" => {
            let vols = cfg.volumes.get_or_insert_with(BTreeMap::new);
            let list = serde_json::from_str::<Vec<String>>(arg)
                .unwrap_or_else(|_| arg.split_whitespace().map(String::from).collect());
            for v in list {
                vols.insert(v, serde_json::json!({}));
            }
        }
        _ => return Err(bad(change, "unsupported instruction")),
    }
    Ok(())
}

/// Import `reader` (a root filesystem tar) as a new image.
pub fn import(
    store: &Store,
    reader: impl Read + Send,
    opts: &ImportOptions,
) -> Result<ImageRecord, StoreError> {
    let mut cc = ContainerConfig::default();
    for c in &opts.changes {
        apply_change(&mut cc, c)?;
    }
    if cc.env.is_none() {
        cc.env = Some(vec![
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        ]);
    }
    let _w = store.write_guard()?;
    let layer = write_layer_with(
        store.content(),
        opts.compression,
        move |w| -> Result<(), LayerError> {
            let mut r = decompress(reader).map_err(LayerError::Compress)?;
            std::io::copy(&mut r, w).map_err(LayerError::Compress)?;
            Ok(())
        },
    )?;
    let created = opts
        .created
        .or_else(|| {
            std::env::var("SOURCE_DATE_EPOCH")
                .ok()
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or_else(crate::db::now);
    let created = format_rfc3339(created);
    let (os, arch) = host_platform();
    let config = ImageConfig {
        created: Some(created.clone()),
        architecture: arch.into(),
        os: os.into(),
        config: Some(cc),
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: vec![layer.diff_id.clone()],
        },
        history: vec![History {
            created: Some(created),
            created_by: Some(format!("kiln import {}", opts.source)),
            comment: Some(
                opts.message
                    .clone()
                    .unwrap_or_else(|| format!("Imported from {}", opts.source)),
            ),
            ..Default::default()
        }],
        ..Default::default()
    };
    let names: Vec<Reference> = opts.name.iter().cloned().collect();
    store.commit_image(&config, &[layer], &names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_apply_to_config() {
        let mut c = ContainerConfig::default();
        for ch in [
            "CMD [\"/bin/sh\"]",
            "ENV A=1 B=\"two words\"",
            "ENV A=3",
            "EXPOSE 80 53/udp",
            "WORKDIR /srv",
            "LABEL x=y",
            "ENTRYPOINT echo hi",
        ] {
            apply_change(&mut c, ch).unwrap();
        }
        assert_eq!(c.cmd.unwrap(), vec!["/bin/sh"]);
        assert_eq!(c.env.unwrap(), vec!["B=two words", "A=3"]);
        assert!(c.exposed_ports.unwrap().contains_key("53/udp"));
        assert_eq!(c.entrypoint.unwrap(), vec!["/bin/sh", "-c", "echo hi"]);
        assert!(apply_change(&mut ContainerConfig::default(), "RUN x").is_err());
        // As in a Dockerfile: every word of the KEY=value form needs its `=`, and the
        // legacy form needs a value.
        for bad in ["ENV A=1 B", "ENV A", "LABEL x", "LABEL =v"] {
            let err = apply_change(&mut ContainerConfig::default(), bad).unwrap_err();
            assert!(err.to_string().contains(bad), "{bad}: {err}");
        }
    }
}
