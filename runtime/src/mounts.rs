//! Parsing the mount flags of `create` (`-v`, `--mount`, `--tmpfs`, `--volumes-from`) into
//! the container's [`MountConfig`]s.

use crate::config::{MountConfig, MountSource};
use crate::create::{CreateError, CreateRequest};
use crate::ids;
use crate::record;
use kiln_cache::Store;
use std::path::{Path, PathBuf};

/// The mounts the request asks for, in flag order: `-v`, `--mount`, `--tmpfs`, then those
/// of `--volumes-from` containers.
pub fn from_request(store: &Store, req: &CreateRequest) -> Result<Vec<MountConfig>, CreateError> {
    let mut mounts = Vec::new();
    for spec in &req.volumes {
        let (src, dst, readonly) = parse_volume(spec)?;
        let source = match src {
            Some(s) if s.starts_with('/') => {
                // Docker creates a missing host directory for -v.
                std::fs::create_dir_all(&s).map_err(|source| CreateError::Io {
                    path: PathBuf::from(&s),
                    source,
                })?;
                MountSource::Bind(PathBuf::from(s))
            }
            Some(name) => MountSource::Volume {
                name,
                anonymous: false,
            },
            None => MountSource::Volume {
                name: ids::new_id()?,
                anonymous: true,
            },
        };
        mounts.push(MountConfig {
            destination: dst,
            source,
            readonly,
        });
    }
    for spec in &req.mounts {
        mounts.push(parse_mount(spec)?);
    }
    for spec in &req.tmpfs {
        let (dst, opts) = spec.split_once(':').unwrap_or((spec.as_str(), ""));
        let size = opts
            .split(',')
            .find_map(|o| o.strip_prefix("size="))
            .map(|v| {
                parse_bytes(v).ok_or_else(|| CreateError::MountSpec {
                    spec: spec.clone(),
                    why: format!("invalid size {v:?}"),
                })
            })
            .transpose()?;
        mounts.push(MountConfig {
            destination: dst.to_string(),
            source: MountSource::Tmpfs { size },
            readonly: false,
        });
    }
    for from in &req.volumes_from {
        let (reference, mode) = match from.rsplit_once(':') {
            Some((r, m @ ("ro" | "rw"))) => (r, Some(m)),
            _ => (from.as_str(), None),
        };
        let other = record::find(store.db(), reference)
            .map_err(|e| CreateError::VolumesFrom(from.clone(), e))?;
        for m in other.config.mounts {
            if matches!(m.source, MountSource::Tmpfs { .. }) {
                continue;
            }
            let readonly = mode.map_or(m.readonly, |x| x == "ro");
            mounts.push(MountConfig { readonly, ..m });
        }
    }
    Ok(mounts)
}

/// `-v` parsed: (source, destination, readonly). Source `None` means anonymous.
fn parse_volume(spec: &str) -> Result<(Option<String>, String, bool), CreateError> {
    let bad = |why| CreateError::VolumeSpec {
        spec: spec.to_string(),
        why,
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [dst] => (None, *dst, None),
        [src, dst] => (Some(*src), *dst, None),
        [src, dst, mode] => (Some(*src), *dst, Some(*mode)),
        _ => return Err(bad("too many ':'")),
    };
    if !dst.starts_with('/') {
        return Err(bad("the container path must be absolute"));
    }
    let readonly = match mode {
        None | Some("rw") => false,
        Some("ro") => true,
        Some(_) => return Err(bad("mode must be ro or rw")),
    };
    if src.is_some_and(str::is_empty) {
        return Err(bad("empty source"));
    }
    Ok((src.map(str::to_string), dst.to_string(), readonly))
}

/// Sizes as `--tmpfs size=` takes them: bytes or with k/m/g (binary).
fn parse_bytes(v: &str) -> Option<u64> {
    let l = v.to_ascii_lowercase();
    let (n, mult) = match l.chars().last()? {
        'k' => (&l[..l.len() - 1], 1u64 << 10),
        'm' => (&l[..l.len() - 1], 1 << 20),
        'g' => (&l[..l.len() - 1], 1 << 30),
        _ => (l.as_str(), 1),
    };
    n.parse::<u64>().ok()?.checked_mul(mult)
}

/// Docker's `--mount` key=value list.
fn parse_mount(spec: &str) -> Result<MountConfig, CreateError> {
    let bad = |why: &str| CreateError::MountSpec {
        spec: spec.to_string(),
        why: why.to_string(),
    };
    let (mut kind, mut source, mut target, mut readonly, mut size) =
        ("volume", None, None, false, None);
    for part in spec.split(',') {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        match k {
            "type" => kind = v,
            "source" | "src" => source = Some(v),
            "target" | "destination" | "dst" => target = Some(v),
            "readonly" | "ro" => readonly = v.is_empty() || v == "true" || v == "1",
            "tmpfs-size" => size = Some(parse_bytes(v).ok_or_else(|| bad("invalid tmpfs-size"))?),
            _ => return Err(bad(&format!("unknown key {k:?}"))),
        }
    }
    let target = target.ok_or_else(|| bad("target is required"))?;
    if !target.starts_with('/') {
        return Err(bad("target must be absolute"));
    }
    let source = match kind {
        "bind" => {
            let s = source.ok_or_else(|| bad("a bind mount needs source"))?;
            if !Path::new(s).exists() {
                // Unlike -v, --mount does not create a missing host path (Docker's rule).
                return Err(bad("bind source path does not exist"));
            }
            MountSource::Bind(PathBuf::from(s))
        }
        "volume" => match source {
            Some(n) if !n.is_empty() => MountSource::Volume {
                name: n.to_string(),
                anonymous: false,
            },
            _ => MountSource::Volume {
                name: ids::new_id().map_err(|e| bad(&e.to_string()))?,
                anonymous: true,
            },
        },
        "tmpfs" => MountSource::Tmpfs { size },
        _ => return Err(bad("type must be bind, volume or tmpfs")),
    };
    Ok(MountConfig {
        destination: target.to_string(),
        source,
        readonly,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_volume_specs() {
        assert_eq!(
            parse_volume("/h:/c:ro").unwrap(),
            (Some("/h".into()), "/c".into(), true)
        );
        assert_eq!(
            parse_volume("data:/c").unwrap(),
            (Some("data".into()), "/c".into(), false)
        );
        assert_eq!(parse_volume("/c").unwrap(), (None, "/c".into(), false));
        assert!(parse_volume("data:c").is_err());
        assert!(parse_volume("/h:/c:xx").is_err());
        assert!(parse_volume("a:b:c:d").is_err());
    }
}
