//! Parsing and validating a `--mount` spec, as BuildKit's `parseMount`.
//!
//! API: [`parse_mount`] (after expansion), [`precheck_mount`] (before expansion).

use super::values::{csv_fields, parse_bool, parse_ram_bytes, parse_u32};
use super::{CacheSharing, Mount, MountError, MountType, ALL_KEYS};
use crate::instructions::suggest::nearest;

/// What BuildKit checks before variables are expanded.
pub fn precheck_mount(spec: &str) -> Result<(), MountError> {
    for field in csv_fields(spec)? {
        if let Some((key, value)) = field.split_once('=') {
            if key.eq_ignore_ascii_case("from") {
                if let Some(i) = value.find('$') {
                    if i != value.len() - 1 {
                        return Err(MountError::FromVariable);
                    }
                }
            }
        }
    }
    Ok(())
}

/// Parses an expanded `--mount` spec as BuildKit's `parseMount` does.
pub fn parse_mount(spec: &str) -> Result<Mount, MountError> {
    let mut m = Mount {
        kind: MountType::Bind,
        from: None,
        source: None,
        target: None,
        read_only: false,
        size_limit: None,
        id: None,
        sharing: None,
        required: false,
        env: None,
        mode: None,
        uid: None,
        gid: None,
    };
    let mut ro_auto = true;
    for field in csv_fields(spec)? {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v.to_string())),
            None => (field.to_ascii_lowercase(), None),
        };
        let Some(value) = value else {
            match key.as_str() {
                "readonly" | "ro" => {
                    m.read_only = true;
                    ro_auto = false;
                }
                "readwrite" | "rw" => {
                    m.read_only = false;
                    ro_auto = false;
                }
                "required" if matches!(m.kind, MountType::Secret | MountType::Ssh) => {
                    m.required = true
                }
                "required" => {
                    return Err(MountError::KeyNotForType {
                        key,
                        kind: m.kind.as_str(),
                    })
                }
                _ => return Err(MountError::NotKeyValue(field)),
            }
            continue;
        };
        match key.as_str() {
            "type" => {
                m.kind = match value.to_ascii_lowercase().as_str() {
                    "bind" => MountType::Bind,
                    "cache" => MountType::Cache,
                    "tmpfs" => MountType::Tmpfs,
                    "secret" => MountType::Secret,
                    "ssh" => MountType::Ssh,
                    _ => {
                        return Err(MountError::UnsupportedType {
                            suggestion: nearest(&value, &MountType::ALL),
                            value,
                        })
                    }
                }
            }
            "from" => m.from = Some(value),
            "source" | "src" => m.source = Some(value),
            "target" | "dst" | "destination" => m.target = Some(value),
            "readonly" | "ro" => {
                m.read_only = parse_bool(&key, &value)?;
                ro_auto = false;
            }
            "readwrite" | "rw" => {
                m.read_only = !parse_bool(&key, &value)?;
                ro_auto = false;
            }
            "required" => {
                if !matches!(m.kind, MountType::Secret | MountType::Ssh) {
                    return Err(MountError::KeyNotForType {
                        key,
                        kind: m.kind.as_str(),
                    });
                }
                m.required = parse_bool(&key, &value)?;
            }
            "size" => {
                if m.kind != MountType::Tmpfs {
                    return Err(MountError::KeyNotForType {
                        key,
                        kind: m.kind.as_str(),
                    });
                }
                m.size_limit =
                    Some(parse_ram_bytes(&value).ok_or(MountError::InvalidValue { key, value })?);
            }
            "id" => m.id = Some(value),
            "sharing" => {
                m.sharing = Some(match value.to_ascii_lowercase().as_str() {
                    "shared" => CacheSharing::Shared,
                    "private" => CacheSharing::Private,
                    "locked" => CacheSharing::Locked,
                    _ => {
                        return Err(MountError::UnsupportedSharing {
                            suggestion: nearest(&value, &["shared", "private", "locked"]),
                            value,
                        })
                    }
                })
            }
            "mode" => m.mode = Some(parse_u32(&key, &value, 8)?),
            "uid" => m.uid = Some(parse_u32(&key, &value, 10)?),
            "gid" => m.gid = Some(parse_u32(&key, &value, 10)?),
            "env" => m.env = Some(value),
            _ => {
                return Err(MountError::UnknownKey {
                    suggestion: nearest(&key, &ALL_KEYS),
                    key,
                    field,
                })
            }
        }
    }
    validate(&mut m, ro_auto)?;
    Ok(m)
}

fn validate(m: &mut Mount, ro_auto: bool) -> Result<(), MountError> {
    let kind = m.kind.as_str();
    if !matches!(
        m.kind,
        MountType::Secret | MountType::Ssh | MountType::Cache
    ) {
        for (what, set) in [
            ("mode", m.mode.is_some()),
            ("uid", m.uid.is_some()),
            ("gid", m.gid.is_some()),
        ] {
            if set {
                return Err(MountError::FileInfoNotAllowed { what, kind });
            }
        }
    }
    if ro_auto {
        m.read_only = !matches!(m.kind, MountType::Cache | MountType::Tmpfs);
    }
    if m.kind == MountType::Secret {
        if m.from.is_some() {
            return Err(MountError::SecretFrom);
        }
        if m.sharing.is_some() {
            return Err(MountError::SecretSharing);
        }
        if m.source.is_none() && m.target.is_none() && m.id.is_none() {
            return Err(MountError::SecretWithoutTarget);
        }
        if m.source.is_some() && m.id.is_some() {
            return Err(MountError::SecretSourceAndId);
        }
    }
    if m.kind == MountType::Ssh && m.source.is_some() {
        return Err(MountError::SshSource);
    }
    if m.sharing.is_some() && m.kind != MountType::Cache {
        return Err(MountError::SharingNotCache(kind));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_per_type() {
        let bind = parse_mount("target=/src").unwrap();
        assert_eq!((bind.kind, bind.read_only), (MountType::Bind, true));
        let cache = parse_mount("type=cache,target=/root/.cache/../.cache/").unwrap();
        assert!(!cache.read_only);
        assert_eq!(cache.cache_id(), "/root/.cache");
        assert_eq!(cache.cache_sharing(), CacheSharing::Shared);
        let secret = parse_mount("type=secret,id=npmrc").unwrap();
        assert_eq!(
            secret.secret_target().as_deref(),
            Some("/run/secrets/npmrc")
        );
        assert_eq!(secret.default_mode(), 0o400);
        let env = parse_mount("type=secret,id=tok,env=TOKEN,required").unwrap();
        assert_eq!((env.secret_target(), env.required), (None, true));
        let ssh = parse_mount("type=ssh").unwrap();
        assert_eq!(ssh.ssh_id(), "default");
    }

    #[test]
    fn all_options() {
        let m = parse_mount("type=cache,id=x,sharing=LOCKED,mode=0700,uid=1000,gid=1000,from=builder,source=/s,rw=false").unwrap();
        assert_eq!(m.sharing, Some(CacheSharing::Locked));
        assert_eq!(
            (m.mode, m.uid, m.gid),
            (Some(0o700), Some(1000), Some(1000))
        );
        assert_eq!(
            (m.from.as_deref(), m.source.as_deref()),
            (Some("builder"), Some("/s"))
        );
        assert!(m.read_only);
        let t = parse_mount("type=tmpfs,dst=/t,size=64m").unwrap();
        assert_eq!(t.size_limit, Some(64 << 20));
        let q = parse_mount("\"target=/a,b\",type=bind").unwrap();
        assert_eq!(q.target.as_deref(), Some("/a,b"));
    }

    #[test]
    fn validation_errors() {
        let e = |s: &str| parse_mount(s).expect_err(s);
        assert_eq!(
            e("type=cahce").to_string(),
            "unsupported mount type \"cahce\" (did you mean cache?)"
        );
        assert!(matches!(
            e("target=/x,bogus=1"),
            MountError::UnknownKey { .. }
        ));
        assert!(matches!(
            e("target=/x,mode=0700"),
            MountError::FileInfoNotAllowed { what: "mode", .. }
        ));
        assert!(matches!(e("type=secret"), MountError::SecretWithoutTarget));
        assert!(matches!(
            e("type=secret,id=a,source=b"),
            MountError::SecretSourceAndId
        ));
        assert!(matches!(
            e("type=secret,id=a,from=b"),
            MountError::SecretFrom
        ));
        assert!(matches!(
            e("type=bind,sharing=shared"),
            MountError::SharingNotCache("bind")
        ));
        assert!(matches!(
            e("type=bind,required"),
            MountError::KeyNotForType { .. }
        ));
        assert!(matches!(
            e("type=bind,size=1m"),
            MountError::KeyNotForType { .. }
        ));
        assert!(matches!(
            e("type=cache,mode=9"),
            MountError::InvalidValue { .. }
        ));
        assert!(matches!(e("type=ssh,source=x"), MountError::SshSource));
        assert!(matches!(e("target=/x,z"), MountError::NotKeyValue(_)));
        assert!(matches!(e("a\"b"), MountError::Csv(_)));
        assert!(matches!(
            precheck_mount("from=$STAGE"),
            Err(MountError::FromVariable)
        ));
        assert!(precheck_mount("from=a$,target=$X").is_ok());
    }
}
