//! `RUN --mount=` specs, typed, with BuildKit's validation and defaults. The compiler
//! calls [`parse_mount`] after expanding variables in the spec; [`precheck_mount`] is
//! what BuildKit checks before expansion (CSV syntax, no variables in `from=`).
//!
//! API: [`parse_mount`], [`precheck_mount`], [`Mount`], [`MountType`],
//! [`CacheSharing`], [`MountError`], [`parse_ram_bytes`].

mod parse;
mod values;

use crate::paths;

pub use parse::{parse_mount, precheck_mount};
pub use values::parse_ram_bytes;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MountType {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

impl MountType {
    pub const ALL: [&'static str; 5] = ["bind", "cache", "tmpfs", "secret", "ssh"];

    pub fn as_str(self) -> &'static str {
        match self {
            MountType::Bind => "bind",
            MountType::Cache => "cache",
            MountType::Tmpfs => "tmpfs",
            MountType::Secret => "secret",
            MountType::Ssh => "ssh",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CacheSharing {
    #[default]
    Shared,
    Private,
    Locked,
}

/// A parsed `--mount` spec. `None` means "not given"; the accessor methods apply
/// BuildKit's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub kind: MountType,
    pub from: Option<String>,
    pub source: Option<String>,
    pub target: Option<String>,
    /// Already defaulted: read-only for bind, secret and ssh; writable for cache, tmpfs.
    pub read_only: bool,
    /// tmpfs `size=` in bytes.
    pub size_limit: Option<i64>,
    /// `id=`: the cache id, secret id or ssh id.
    pub id: Option<String>,
    pub sharing: Option<CacheSharing>,
    /// secret/ssh: fail the build when the secret or agent is missing.
    pub required: bool,
    /// secret: expose as this environment variable instead of a file.
    pub env: Option<String>,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

impl Mount {
    /// Cache sharing mode (default `shared`).
    pub fn cache_sharing(&self) -> CacheSharing {
        self.sharing.unwrap_or_default()
    }

    /// The cache id: `id=` or else the cleaned target path.
    pub fn cache_id(&self) -> String {
        self.id
            .clone()
            .unwrap_or_else(|| paths::clean(self.target.as_deref().unwrap_or("")))
    }

    /// The secret id: `source=`, else `id=`, else the target's base name.
    pub fn secret_id(&self) -> Option<String> {
        self.source
            .clone()
            .or_else(|| self.id.clone())
            .or_else(|| self.target.as_deref().map(paths::base))
    }

    /// Where a secret file goes: `target=`, else `/run/secrets/<id>`; `None` when the
    /// secret is only exposed as an environment variable.
    pub fn secret_target(&self) -> Option<String> {
        if let Some(t) = &self.target {
            return Some(t.clone());
        }
        if self.env.is_some() {
            return None;
        }
        self.secret_id()
            .map(|id| format!("/run/secrets/{}", paths::base(&id)))
    }

    /// The ssh agent id (default `default`).
    pub fn ssh_id(&self) -> String {
        self.id.clone().unwrap_or_else(|| "default".into())
    }

    /// The file mode used when none is given: 0755 cache dirs, 0400 secrets, 0600 ssh.
    pub fn default_mode(&self) -> u32 {
        match self.kind {
            MountType::Secret => 0o400,
            MountType::Ssh => 0o600,
            _ => 0o755,
        }
    }
}

/// Why a mount spec is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MountError {
    #[error("failed to parse csv mounts: {0}")]
    Csv(String),
    #[error("unsupported mount type {value:?}{}", did_you_mean(.suggestion))]
    UnsupportedType {
        value: String,
        suggestion: Option<String>,
    },
    #[error("invalid field '{0}' must be a key=value pair")]
    NotKeyValue(String),
    #[error("unexpected key '{key}' in '{field}'{}", did_you_mean(.suggestion))]
    UnknownKey {
        key: String,
        field: String,
        suggestion: Option<String>,
    },
    #[error("unexpected key '{key}' for mount type '{kind}'")]
    KeyNotForType { key: String, kind: &'static str },
    #[error("invalid value for {key}: {value}")]
    InvalidValue { key: String, value: String },
    #[error("unsupported sharing value {value:?}{}", did_you_mean(.suggestion))]
    UnsupportedSharing {
        value: String,
        suggestion: Option<String>,
    },
    #[error("{what} not allowed for {kind:?} type mounts")]
    FileInfoNotAllowed {
        what: &'static str,
        kind: &'static str,
    },
    #[error("secret mount should not have a from")]
    SecretFrom,
    #[error("secret mount should not define sharing")]
    SecretSharing,
    #[error("invalid secret mount. one of source, target required")]
    SecretWithoutTarget,
    #[error("both source and id can't be set")]
    SecretSourceAndId,
    #[error("ssh does not support source")]
    SshSource,
    #[error("invalid cache sharing set for {0} mount")]
    SharingNotCache(&'static str),
    #[error("'from' doesn't support variable expansion, define alias stage instead")]
    FromVariable,
}

fn did_you_mean(s: &Option<String>) -> String {
    s.as_ref()
        .map(|s| format!(" (did you mean {s}?)"))
        .unwrap_or_default()
}

pub(super) const ALL_KEYS: [&str; 19] = [
    "type",
    "from",
    "source",
    "target",
    "readonly",
    "id",
    "sharing",
    "required",
    "size",
    "mode",
    "uid",
    "gid",
    "src",
    "dst",
    "destination",
    "ro",
    "rw",
    "readwrite",
    "env",
];
