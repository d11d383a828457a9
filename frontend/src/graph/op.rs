//! The operations a build graph is made of (kiln's LLB): sources, process executions and
//! file operations. Every type here serialises deterministically (no hash maps, fields in
//! declaration order), because a vertex's digest is the sha256 of that serialisation.

use serde::{Deserialize, Serialize};

/// One step of a build. Inputs are referenced by position in the vertex's `inputs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Source(Source),
    Exec(Exec),
    File(FileOp),
    /// Layers stacked without re-running anything: the result of `COPY --link` rebased onto
    /// its parent. Inputs are the layers in order, bottom first.
    Merge,
}

impl Op {
    /// A short name for graph printouts.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Source(_) => "source",
            Op::Exec(_) => "exec",
            Op::File(_) => "file",
            Op::Merge => "merge",
        }
    }
}

/// Where a filesystem comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Source {
    /// An empty filesystem (`FROM scratch`, heredoc files, `COPY --link` layers).
    Scratch,
    /// A container image, by normalised reference (`docker.io/library/busybox:latest`).
    Image {
        reference: String,
        platform: Platform,
    },
    /// Files from the client: the build context (`name = "context"`) or the Dockerfile.
    /// `include` lists the patterns the build reads, so only those are transferred and
    /// checksummed; `exclude` holds `.dockerignore` and `--exclude` patterns.
    Local {
        name: String,
        include: Vec<String>,
        exclude: Vec<String>,
    },
    /// A git repository at a ref (`ADD https://host/repo.git#ref:subdir`).
    Git {
        remote: String,
        reference: Option<String>,
        subdir: Option<String>,
        keep_git_dir: bool,
        /// `ADD --checksum=<commit>`: the commit the ref must resolve to (a prefix of its id).
        /// Left out of the serialised op when absent, so older graphs keep their digests.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        checksum: Option<String>,
    },
    /// A file fetched over http(s), optionally pinned by checksum.
    Http {
        url: String,
        checksum: Option<String>,
        filename: Option<String>,
        /// Permissions and owner for the downloaded file.
        chmod: Option<u32>,
        chown: Option<Owner>,
    },
}

/// An OCI platform (`linux/amd64`, `linux/arm/v7`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.to_string(),
            architecture: architecture.to_string(),
            variant: variant.map(str::to_string),
        }
    }

    /// Parse `os/arch[/variant]`; `None` if it is not of that shape.
    pub fn parse(text: &str) -> Option<Platform> {
        let mut parts = text.split('/');
        let os = parts.next().filter(|s| !s.is_empty())?;
        let arch = parts.next().filter(|s| !s.is_empty())?;
        let variant = parts.next().filter(|s| !s.is_empty());
        if parts.next().is_some() {
            return None;
        }
        Some(Platform::new(
            &os.to_ascii_lowercase(),
            &arch.to_ascii_lowercase(),
            variant,
        ))
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// A user and group as written (`1000`, `app`, `app:staff`), resolved inside the
/// container's filesystem at run time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// Run a process in a container whose root filesystem is input 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exec {
    pub args: Vec<String>,
    /// `KEY=value` entries in order.
    pub env: Vec<String>,
    pub cwd: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub network: NetworkMode,
    pub security: SecurityMode,
    /// Extra mounts; the root filesystem is not listed here.
    pub mounts: Vec<Mount>,
    /// What `kiln build --add-host/--ulimit/--shm-size` give every RUN. Part of the digest
    /// (they change what the command sees, as in BuildKit's exec meta); left out when
    /// unset so graphs without them keep their digests.
    #[serde(default, skip_serializing_if = "RunSettings::is_empty")]
    pub settings: RunSettings,
}

/// Build-wide settings of RUN steps (`--add-host`, `--ulimit`, `--shm-size`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RunSettings {
    /// Extra `/etc/hosts` entries, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<HostEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ulimits: Vec<Ulimit>,
    /// Size of `/dev/shm` in bytes (the executor's default when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<u64>,
}

impl RunSettings {
    pub fn is_empty(&self) -> bool {
        self.extra_hosts.is_empty() && self.ulimits.is_empty() && self.shm_size.is_none()
    }
}

/// One `/etc/hosts` line: `address name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostEntry {
    pub name: String,
    pub address: String,
}

/// One rlimit as Docker's `--ulimit name=soft:hard` names it (`nofile`, `nproc`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NetworkMode {
    #[default]
    Default,
    None,
    Host,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SecurityMode {
    #[default]
    Sandbox,
    Insecure,
}

/// A mount of a RUN step. `input` is the index of the vertex input mounted (bind mounts),
/// `None` for mounts that have no source vertex (tmpfs, secrets, ssh, empty caches).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<usize>,
    /// Path inside the input that is mounted (`source=` of a bind mount).
    pub selector: String,
    pub readonly: bool,
    pub kind: MountKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MountKind {
    Bind,
    Cache {
        id: String,
        sharing: CacheSharing,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mode: Option<u32>,
        uid: u32,
        gid: u32,
    },
    Tmpfs {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size: Option<u64>,
    },
    Secret {
        id: String,
        required: bool,
        /// Expose as this environment variable instead of (or as well as) a file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        env: Option<String>,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    Ssh {
        id: String,
        required: bool,
        mode: u32,
        uid: u32,
        gid: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CacheSharing {
    #[default]
    Shared,
    Private,
    Locked,
}

/// File operations applied in order to input 0 (or to an empty filesystem when the
/// vertex has no input 0, as for `COPY --link`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileOp {
    pub actions: Vec<FileAction>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum FileAction {
    Copy(Copy),
    Mkdir {
        path: String,
        mode: u32,
        make_parents: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<Owner>,
    },
    Mkfile {
        path: String,
        mode: u32,
        data: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<Owner>,
    },
    Rm {
        path: String,
        allow_not_found: bool,
        allow_wildcard: bool,
    },
}

/// Copy files from an input of the vertex into the destination filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Copy {
    /// Index of the vertex input the files come from.
    pub input: usize,
    pub src: String,
    pub dest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
    pub follow_symlinks: bool,
    /// Copy a directory's contents rather than the directory itself (Docker's COPY).
    pub dir_contents_only: bool,
    pub allow_wildcard: bool,
    pub allow_empty_wildcard: bool,
    pub create_dest_path: bool,
    /// ADD: unpack local tar archives.
    pub unpack_archives: bool,
    /// COPY --parents: keep the source's parent directories under dest.
    pub parents: bool,
    pub exclude: Vec<String>,
}
