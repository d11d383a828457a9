//! Flags shared by `kiln create` and `kiln run`: how a container is configured, and
//! turning them into the runtime's [`CreateRequest`]; opening the store for the container
//! commands.

use anyhow::{bail, Context};
use clap::Args;
use kiln_cache::Store;
use kiln_runtime::config::parse_signal;
use kiln_runtime::{ContainerConfig, CreateRequest, RestartPolicy};

use crate::cli::GlobalArgs;

/// The flags `create` and `run` share that only the runtime implements (`run` without
/// any of them and without `-d` keeps its foreground path).
#[derive(Debug, Args, Clone, Default, PartialEq)]
pub struct ContainerFlags {
    /// Name of the container (unique; a random one otherwise)
    #[arg(long)]
    pub name: Option<String>,
    /// Container hostname
    #[arg(long)]
    pub hostname: Option<String>,
    /// Restart policy: no, always, unless-stopped, on-failure[:max-retries]
    #[arg(long)]
    pub restart: Option<String>,
    /// Set a label: key=value
    #[arg(short = 'l', long = "label")]
    pub label: Vec<String>,
    /// Bind mount or volume: /host:/ctr[:ro], name:/ctr[:ro], or /ctr (anonymous)
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,
    /// Mount: type=bind|volume|tmpfs,source=…,target=/path[,readonly]
    #[arg(long = "mount")]
    pub mount: Vec<String>,
    /// Mount a tmpfs: /path[:size=64m]
    #[arg(long = "tmpfs")]
    pub tmpfs: Vec<String>,
    /// Mount the volumes of another container: CONTAINER[:ro|:rw]
    #[arg(long = "volumes-from")]
    pub volumes_from: Vec<String>,
    /// Read environment variables from a file (KEY=value lines)
    #[arg(long = "env-file")]
    pub env_file: Vec<std::path::PathBuf>,
    /// Write the container id to this file
    #[arg(long)]
    pub cidfile: Option<std::path::PathBuf>,
    /// Number of CPUs (e.g. 1.5)
    #[arg(long)]
    pub cpus: Option<f64>,
    /// Resource limit: name=soft[:hard] (e.g. nofile=1024:2048)
    #[arg(long = "ulimit")]
    pub ulimit: Vec<String>,
    /// Security options: no-new-privileges, seccomp=unconfined
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Size of /dev/shm (e.g. 64m)
    #[arg(long)]
    pub shm_size: Option<String>,
    /// Add an /etc/hosts line: name:address
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Memory limit (e.g. 64m, 1g)
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Relative CPU weight
    #[arg(long)]
    pub cpu_shares: Option<u64>,
    /// Maximum number of processes
    #[arg(long)]
    pub pids_limit: Option<u64>,
    /// Run an init as pid 1 that reaps zombies and forwards signals
    #[arg(long)]
    pub init: bool,
    /// Mount the root filesystem read-only
    #[arg(long)]
    pub read_only: bool,
    /// Signal `stop` sends first (default: the image's, else SIGTERM)
    #[arg(long)]
    pub stop_signal: Option<String>,
    /// Seconds `stop` waits before SIGKILL (default 10)
    #[arg(long)]
    pub stop_timeout: Option<u64>,
    /// Health check command (run with /bin/sh -c in the container)
    #[arg(long)]
    pub health_cmd: Option<String>,
    /// Time between health checks (e.g. 30s)
    #[arg(long)]
    pub health_interval: Option<String>,
    /// Time a health check may take (e.g. 30s)
    #[arg(long)]
    pub health_timeout: Option<String>,
    /// Consecutive failures that make the container unhealthy
    #[arg(long)]
    pub health_retries: Option<u32>,
    /// Time after start during which failures do not count
    #[arg(long)]
    pub health_start_period: Option<String>,
    /// Disable the image's HEALTHCHECK
    #[arg(long)]
    pub no_healthcheck: bool,
    #[command(flatten)]
    pub isolation: super::isolation_opts::IsolationFlags,
    /// Keys that detach from an attached terminal (default ctrl-p,ctrl-q)
    #[arg(long)]
    pub detach_keys: Option<String>,
    #[command(flatten)]
    pub net: super::network_opts::NetFlags,
    #[command(flatten)]
    pub log: super::log_opts::LogFlags,
}

fn duration_ns(flag: &str, v: &Option<String>) -> anyhow::Result<u64> {
    match v {
        None => Ok(0),
        Some(s) => kiln_runtime::timefmt::parse_duration(s)
            .map(|d| d.as_nanos() as u64)
            .with_context(|| format!("invalid --{flag} {s:?}: use a duration like 30s or 1m")),
    }
}

/// Everything `kiln create` takes.
#[derive(Debug, Args, Clone)]
pub struct ContainerOpts {
    /// Set an environment variable: NAME=value, or NAME to pass the host's value
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// User: name, uid, name:group or uid:gid
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Override the image's entrypoint ("" clears it)
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Keep stdin open
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Give the container a pseudo-terminal
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Network: bridge (default), host, none, container:<name|id>, or a network's name
    #[arg(long, default_value = "bridge")]
    pub network: String,
    /// Remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    #[command(flatten)]
    pub flags: ContainerFlags,
    /// The image
    pub image: String,
    /// Command and arguments (replace the image's Cmd)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// The flags `run` and `create` both have in their own argument structs.
#[derive(Debug, Clone, Copy)]
pub struct Basics<'a> {
    pub env: &'a [String],
    pub workdir: Option<&'a str>,
    pub user: Option<&'a str>,
    pub entrypoint: Option<&'a str>,
    pub interactive: bool,
    pub tty: bool,
    pub network: &'a str,
    pub rm: bool,
    pub image: &'a str,
    pub command: &'a [String],
}

impl ContainerOpts {
    pub fn basics(&self) -> Basics<'_> {
        Basics {
            env: &self.env,
            workdir: self.workdir.as_deref(),
            user: self.user.as_deref(),
            entrypoint: self.entrypoint.as_deref(),
            interactive: self.interactive,
            tty: self.tty,
            network: &self.network,
            rm: self.rm,
            image: &self.image,
            command: &self.command,
        }
    }

    pub fn to_request(&self) -> anyhow::Result<CreateRequest> {
        self.flags.to_request(self.basics())
    }
}

/// Docker's memory sizes: bytes, or a number with b/k/m/g (binary units).
pub fn parse_memory(s: &str) -> anyhow::Result<u64> {
    let lower = s.trim().to_ascii_lowercase();
    let (num, mult) = match lower.chars().last() {
        Some('b') => (&lower[..lower.len() - 1], 1u64),
        Some('k') => (&lower[..lower.len() - 1], 1 << 10),
        Some('m') => (&lower[..lower.len() - 1], 1 << 20),
        Some('g') => (&lower[..lower.len() - 1], 1 << 30),
        _ => (lower.as_str(), 1),
    };
    let n: f64 = num
        .parse()
        .with_context(|| format!("invalid size {s:?}: use a number with b, k, m or g"))?;
    if n <= 0.0 {
        bail!("invalid size {s:?}: must be positive");
    }
    Ok((n * mult as f64) as u64)
}

impl ContainerFlags {
    /// The runtime request for these flags and the shared ones.
    pub fn to_request(&self, b: Basics<'_>) -> anyhow::Result<CreateRequest> {
        let restart: RestartPolicy = self.restart.as_deref().unwrap_or("no").parse()?;
        if b.rm && restart != RestartPolicy::No {
            bail!("conflicting options: --restart and --rm");
        }
        let net = self.net.to_config(b.network)?;
        let network_host = net.mode == kiln_runtime::network::NetMode::Host;
        let mut labels = std::collections::BTreeMap::new();
        for l in &self.label {
            let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
            labels.insert(k.to_string(), v.to_string());
        }
        let stop_signal = match &self.stop_signal {
            Some(s) => {
                Some(parse_signal(s).with_context(|| format!("invalid --stop-signal {s:?}"))?)
            }
            None => None,
        };
        let memory = self.memory.as_deref().map(parse_memory).transpose()?;
        let tmpfs = self.tmpfs.clone();
        let isolation = self.isolation.to_isolation(self.shm_size.as_deref())?;
        let extra_hosts = self
            .add_host
            .iter()
            .map(|h| {
                h.split_once(':')
                    .filter(|(n, a)| !n.is_empty() && a.parse::<std::net::IpAddr>().is_ok())
                    .map(|(n, a)| (n.to_string(), a.to_string()))
                    .with_context(|| format!("invalid --add-host {h:?}: use name:address"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let health = kiln_runtime::health::HealthConfig {
            test: self
                .health_cmd
                .as_ref()
                .map(|c| vec!["CMD-SHELL".to_string(), c.clone()])
                .unwrap_or_default(),
            interval: duration_ns("health-interval", &self.health_interval)?,
            timeout: duration_ns("health-timeout", &self.health_timeout)?,
            start_period: duration_ns("health-start-period", &self.health_start_period)?,
            retries: self.health_retries.unwrap_or(0),
        };
        // --env-file entries come before -e ones, so -e wins (as Docker).
        let mut env = Vec::new();
        for f in &self.env_file {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("reading --env-file {}", f.display()))?;
            env.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_string),
            );
        }
        env.extend(b.env.iter().cloned());
        check_env_and_workdir(&env, b.workdir)?;
        let cpu_quota = match self.cpus {
            Some(c) => Some(
                kiln_runtime::config::cpus_quota(c)
                    .with_context(|| format!("invalid --cpus {c}: must be positive"))?,
            ),
            None => None,
        };
        let rlimits = self
            .ulimit
            .iter()
            .map(|u| {
                kiln_runtime::config::parse_ulimit(u)
                    .with_context(|| format!("invalid --ulimit {u:?}: use name=soft[:hard]"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let (mut no_new_privileges, mut seccomp_unconfined) = (false, false);
        for o in &self.security_opt {
            match o.as_str() {
                "no-new-privileges" | "no-new-privileges=true" | "no-new-privileges:true" => {
                    no_new_privileges = true
                }
                "seccomp=unconfined" | "seccomp:unconfined" => seccomp_unconfined = true,
                other => bail!(
                    "--security-opt {other}: supported are no-new-privileges and seccomp=unconfined"
                ),
            }
        }
        Ok(CreateRequest {
            image: b.image.to_string(),
            name: self.name.clone(),
            entrypoint: b.entrypoint.map(str::to_string),
            command: b.command.to_vec(),
            env,
            workdir: b.workdir.map(str::to_string),
            user: b.user.map(str::to_string),
            volumes: self.volume.clone(),
            mounts: self.mount.clone(),
            tmpfs,
            volumes_from: self.volumes_from.clone(),
            stop_signal,
            health,
            no_healthcheck: self.no_healthcheck,
            config: ContainerConfig {
                tty: b.tty,
                open_stdin: b.interactive,
                hostname: self.hostname.clone(),
                network_host,
                labels,
                restart,
                stop_timeout: self.stop_timeout.unwrap_or(10),
                memory,
                cpu_shares: self.cpu_shares,
                pids_limit: self.pids_limit,
                cpu_quota,
                rlimits,
                no_new_privileges,
                seccomp_unconfined,
                extra_hosts,
                init: self.init,
                read_only: self.read_only,
                auto_remove: b.rm,
                net,
                isolation,
                log: self.log.to_config()?,
                ..ContainerConfig::default()
            },
        })
    }
}

/// Docker's own checks of `-e`/`--env-file` and `-w`: a variable needs a name, a working
/// directory an absolute path (both paths of `run` call this).
pub fn check_env_and_workdir(env: &[String], workdir: Option<&str>) -> anyhow::Result<()> {
    if let Some(bad) = env.iter().find(|e| e.starts_with('=')) {
        bail!("invalid environment variable: {bad} (use NAME=value or NAME)");
    }
    if let Some(w) = workdir.filter(|w| !w.starts_with('/')) {
        bail!("the working directory {w:?} is invalid, it needs to be an absolute path");
    }
    Ok(())
}

/// The store with an absolute root: monitors run with `/` as their working directory.
pub fn open_store(global: &GlobalArgs) -> anyhow::Result<Store> {
    let root = std::path::absolute(&global.root)
        .with_context(|| format!("resolving the store path {}", global.root.display()))?;
    Store::open(&root).with_context(|| {
        format!(
            "opening kiln's store at {} (set --root or KILN_ROOT)",
            root.display()
        )
    })
}

/// The kiln binary, re-executed as the container monitor and exec helper.
pub fn kiln_binary() -> anyhow::Result<std::path::PathBuf> {
    std::env::current_exe().context("finding the kiln binary to run the container monitor")
}

/// Runs `f` for each container reference, printing what `print` returns on success and
/// the error otherwise; exit code 1 if any failed (as Docker's multi-container commands).
pub fn for_each(
    refs: &[String],
    mut f: impl FnMut(&str) -> anyhow::Result<Option<String>>,
) -> anyhow::Result<i32> {
    let mut code = 0;
    for r in refs {
        match f(r) {
            Ok(Some(out)) => println!("{out}"),
            Ok(None) => {}
            Err(e) => {
                eprintln!("error: {r}: {e:#}");
                code = 1;
            }
        }
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory("64m").unwrap(), 64 << 20);
        assert_eq!(parse_memory("1g").unwrap(), 1 << 30);
        assert_eq!(parse_memory("512").unwrap(), 512);
        assert!(parse_memory("x").is_err());
        assert!(parse_memory("-1m").is_err());
    }
}
