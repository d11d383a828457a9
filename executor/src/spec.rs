//! The typed container description a caller hands the executor. The same value drives the
//! native helper and is written out as an OCI runtime bundle for runc.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

mod isolation;
pub use isolation::{all_capabilities, capabilities_with, Device, NamespaceMode, Namespaces};

/// Everything needed to run one process in one container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerSpec {
    /// Unique among running containers: names the cgroups and the state directory.
    /// `[A-Za-z0-9_.-]`, 1..=64 characters.
    pub id: String,
    pub rootfs: Rootfs,
    pub process: ProcessSpec,
    /// Hostname inside the container; defaults to the first 12 characters of `id`.
    pub hostname: Option<String>,
    /// Extra mounts, applied in order after the standard ones.
    pub mounts: Vec<Mount>,
    pub network: NetworkMode,
    pub limits: Limits,
    /// Killed with SIGKILL when it runs longer; the outcome says `timed_out`.
    pub timeout: Option<Duration>,
    /// Sets `no_new_privs`, so setuid binaries and file capabilities grant nothing.
    pub no_new_privileges: bool,
    pub seccomp: SeccompMode,
    /// Mount the root filesystem read-only.
    pub readonly_rootfs: bool,
    /// Extra `/etc/hosts` lines: (hostname, address).
    pub extra_hosts: Vec<(String, String)>,
    /// Run a small init as pid 1 that reaps zombies and forwards signals (`--init`);
    /// native runtime only.
    #[serde(default)]
    pub init: bool,
    /// IPC, PID and UTS namespaces: private (the default), the host's, or joined.
    #[serde(default)]
    pub namespaces: Namespaces,
    /// Bind this host directory on `/dev/shm` instead of a fresh tmpfs: the shared memory
    /// of the IPC namespace joined (`/proc/<pid>/root/dev/shm`) or the host's (`/dev/shm`).
    #[serde(default)]
    pub shm_source: Option<PathBuf>,
    /// Size of the container's own `/dev/shm` in bytes; default 64 MiB.
    #[serde(default)]
    pub shm_size: Option<u64>,
    /// Host devices created in the container's `/dev` and allowed by its device cgroup.
    #[serde(default)]
    pub devices: Vec<Device>,
    /// Capabilities the process keeps (`CAP_…` names); `None` is Docker's default set
    /// ([`DEFAULT_CAPABILITIES`]). See [`capabilities_with`].
    #[serde(default)]
    pub capabilities: Option<Vec<String>>,
    /// Docker's `--privileged`: every capability, every host device, no seccomp filter, no
    /// masked or read-only paths, `/sys` writable.
    #[serde(default)]
    pub privileged: bool,
}

impl ContainerSpec {
    /// A spec with Docker's defaults: no network, default seccomp profile, no limits.
    pub fn new(id: impl Into<String>, rootfs: Rootfs, args: Vec<String>) -> Self {
        ContainerSpec {
            id: id.into(),
            rootfs,
            process: ProcessSpec {
                args,
                env: Vec::new(),
                cwd: None,
                user: None,
                tty: false,
            },
            hostname: None,
            mounts: Vec::new(),
            network: NetworkMode::None,
            limits: Limits::default(),
            timeout: None,
            no_new_privileges: false,
            seccomp: SeccompMode::Default,
            readonly_rootfs: false,
            extra_hosts: Vec::new(),
            init: false,
            namespaces: Namespaces::default(),
            shm_source: None,
            shm_size: None,
            devices: Vec::new(),
            capabilities: None,
            privileged: false,
        }
    }

    /// The hostname the container sees.
    pub fn effective_hostname(&self) -> String {
        if self.namespaces.uts == NamespaceMode::Host {
            if let Ok(h) = nix::unistd::gethostname() {
                return h.to_string_lossy().into_owned();
            }
        }
        match &self.hostname {
            Some(h) => h.clone(),
            None => self.id.chars().take(12).collect(),
        }
    }
}

/// The container's root filesystem.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Rootfs {
    /// overlayfs: read-only `lower` directories listed BOTTOM FIRST (base layer first, as in
    /// an image manifest), a writable `upper` that collects the changes (the next layer) and
    /// an empty `work` directory on the same filesystem as `upper`.
    Overlay {
        lower: Vec<PathBuf>,
        upper: PathBuf,
        work: PathBuf,
    },
    /// A plain directory used directly (writes land in it).
    Dir(PathBuf),
}

/// The process to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcessSpec {
    /// argv; `args[0]` without a `/` is looked up in the container's `PATH`.
    pub args: Vec<String>,
    /// `KEY=value` entries; PATH, HOME and HOSTNAME are defaulted as Docker does.
    pub env: Vec<String>,
    /// Working directory inside the container (created if missing); default `/`.
    pub cwd: Option<String>,
    /// Docker's USER syntax: `name`, `uid`, `name:group`, `uid:gid`; default root.
    pub user: Option<String>,
    /// Give the process a pseudo-terminal as stdin/stdout/stderr (output arrives as stdout).
    pub tty: bool,
}

/// A mount inside the container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Mount {
    /// Absolute path inside the container; symlinks in it resolve inside the rootfs.
    pub destination: String,
    pub kind: MountKind,
    pub readonly: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum MountKind {
    /// Bind a host path (a directory, a file, a snapshot, a cache directory or a secret file).
    Bind { source: PathBuf },
    /// A fresh, empty tmpfs, optionally size-limited in bytes.
    Tmpfs { size: Option<u64> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetworkMode {
    /// A new network namespace with only a loopback device (down, as Docker's `none`).
    None,
    /// Share the host's network namespace.
    Host,
    /// Join an existing network namespace: a bind-mounted nsfs file or `/proc/<pid>/ns/net`
    /// (the runtime's bridge networking prepares one before the container starts, and
    /// `--network container:<id>` names another container's).
    Join(PathBuf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeccompMode {
    /// kiln's default profile (see `seccomp.rs`).
    Default,
    Unconfined,
}

/// cgroup and rlimit limits.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Limits {
    /// Memory limit in bytes (swap disallowed beyond it where the host allows).
    pub memory: Option<u64>,
    /// Relative CPU weight as Docker's `--cpu-shares` (1024 = default).
    pub cpu_shares: Option<u64>,
    /// CPU bandwidth: `quota_us` per `period_us` (Docker's `--cpus 1.5` = 150000/100000).
    pub cpu_quota: Option<CpuQuota>,
    /// Maximum number of processes/threads.
    pub pids: Option<u64>,
    /// rlimits; each must stay within the host's hard limit.
    pub rlimits: Vec<Rlimit>,
    /// CPUs the container may run on, in the kernel's list format (`0-2,4`).
    #[serde(default)]
    pub cpuset_cpus: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuQuota {
    pub quota_us: u64,
    pub period_us: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rlimit {
    pub kind: RlimitKind,
    pub soft: u64,
    pub hard: u64,
}

/// The rlimits Docker's `--ulimit` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RlimitKind {
    Core,
    Cpu,
    Data,
    Fsize,
    Locks,
    Memlock,
    Msgqueue,
    Nice,
    Nofile,
    Nproc,
    Rss,
    Rtprio,
    Rttime,
    Sigpending,
    Stack,
}

impl RlimitKind {
    /// Docker's `--ulimit` name (`nofile`); `None` for a name Docker does not know.
    pub fn from_docker_name(name: &str) -> Option<RlimitKind> {
        use RlimitKind as K;
        Some(match name {
            "core" => K::Core,
            "cpu" => K::Cpu,
            "data" => K::Data,
            "fsize" => K::Fsize,
            "locks" => K::Locks,
            "memlock" => K::Memlock,
            "msgqueue" => K::Msgqueue,
            "nice" => K::Nice,
            "nofile" => K::Nofile,
            "nproc" => K::Nproc,
            "rss" => K::Rss,
            "rtprio" => K::Rtprio,
            "rttime" => K::Rttime,
            "sigpending" => K::Sigpending,
            "stack" => K::Stack,
            _ => return None,
        })
    }

    /// The OCI name (`RLIMIT_NOFILE`).
    pub fn oci_name(self) -> &'static str {
        match self {
            RlimitKind::Core => "RLIMIT_CORE",
            RlimitKind::Cpu => "RLIMIT_CPU",
            RlimitKind::Data => "RLIMIT_DATA",
            RlimitKind::Fsize => "RLIMIT_FSIZE",
            RlimitKind::Locks => "RLIMIT_LOCKS",
            RlimitKind::Memlock => "RLIMIT_MEMLOCK",
            RlimitKind::Msgqueue => "RLIMIT_MSGQUEUE",
            RlimitKind::Nice => "RLIMIT_NICE",
            RlimitKind::Nofile => "RLIMIT_NOFILE",
            RlimitKind::Nproc => "RLIMIT_NPROC",
            RlimitKind::Rss => "RLIMIT_RSS",
            RlimitKind::Rtprio => "RLIMIT_RTPRIO",
            RlimitKind::Rttime => "RLIMIT_RTTIME",
            RlimitKind::Sigpending => "RLIMIT_SIGPENDING",
            RlimitKind::Stack => "RLIMIT_STACK",
        }
    }

    pub(crate) fn resource(self) -> nix::sys::resource::Resource {
        use nix::sys::resource::Resource as R;
        match self {
            RlimitKind::Core => R::RLIMIT_CORE,
            RlimitKind::Cpu => R::RLIMIT_CPU,
            RlimitKind::Data => R::RLIMIT_DATA,
            RlimitKind::Fsize => R::RLIMIT_FSIZE,
            RlimitKind::Locks => R::RLIMIT_LOCKS,
            RlimitKind::Memlock => R::RLIMIT_MEMLOCK,
            RlimitKind::Msgqueue => R::RLIMIT_MSGQUEUE,
            RlimitKind::Nice => R::RLIMIT_NICE,
            RlimitKind::Nofile => R::RLIMIT_NOFILE,
            RlimitKind::Nproc => R::RLIMIT_NPROC,
            RlimitKind::Rss => R::RLIMIT_RSS,
            RlimitKind::Rtprio => R::RLIMIT_RTPRIO,
            RlimitKind::Rttime => R::RLIMIT_RTTIME,
            RlimitKind::Sigpending => R::RLIMIT_SIGPENDING,
            RlimitKind::Stack => R::RLIMIT_STACK,
        }
    }
}

/// Docker's default capability set; everything else is dropped.
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Docker's masked paths: files get /dev/null bound over them, directories an empty
/// read-only tmpfs.
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's read-only paths.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Docker's default PATH.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
