//! What `docker build` / `docker buildx build` command lines pasted into CI pass beyond
//! kiln's own flags: named contexts (`--build-context`), RUN settings (`--network`,
//! `--add-host`, `--ulimit`, `--shm-size`), manifest annotations, and flags accepted for
//! compatibility only (`--load`, `--rm`, `--force-rm`, `--compress`,
//! `--provenance=false`, `--sbom=false`). Attestations kiln cannot produce are refused
//! with a message that says so.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use kiln_frontend::compile::{local_source_name, NamedContext};
use kiln_frontend::graph::{HostEntry, NetworkMode, RunSettings, Ulimit};

/// The flags of `kiln build` that come from buildx / docker build command lines.
// No group: the typed daemon path checks flags by id, and all of these are typed.
#[derive(Debug, Clone, Args)]
#[group(skip)]
pub struct CompatArgs {
    /// Named context: NAME=DIR or NAME=docker-image://REF, read by FROM NAME,
    /// COPY --from=NAME and RUN --mount=from=NAME instead of a stage or image; repeatable
    #[arg(long = "build-context")]
    pub build_contexts: Vec<String>,
    /// Network of every RUN without its own --network: default, host or none
    #[arg(long)]
    pub network: Option<String>,
    /// Add NAME:IP to every RUN's /etc/hosts; repeatable
    #[arg(long = "add-host")]
    pub add_hosts: Vec<String>,
    /// Resource limit of every RUN: NAME=SOFT[:HARD] (nofile=1024:2048); repeatable
    #[arg(long = "ulimit")]
    pub ulimits: Vec<String>,
    /// Size of every RUN's /dev/shm (64m, 1g)
    #[arg(long = "shm-size")]
    pub shm_size: Option<String>,
    /// Annotation of the image manifest: KEY=VALUE (or manifest:KEY=VALUE); repeatable
    #[arg(long = "annotation")]
    pub annotations: Vec<String>,
    /// Compatibility (buildx): images land in the store anyway; with -o type=… they are
    /// named there too
    #[arg(long)]
    pub load: bool,
    /// Compatibility (docker build): kiln never keeps a step's container (see --keep-intermediate)
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value = "true", overrides_with = "rm")]
    pub rm: bool,
    /// Compatibility (docker build): kiln never keeps a failed step's container
    #[arg(long)]
    pub force_rm: bool,
    /// Compatibility (docker build): the context is not compressed (no-op)
    #[arg(long)]
    pub compress: bool,
    /// Compatibility (buildx): only false/0 is accepted; kiln produces no attestations
    #[arg(long)]
    pub provenance: Option<String>,
    /// Compatibility (buildx): only false/0 is accepted; kiln produces no attestations
    #[arg(long)]
    pub sbom: Option<String>,
    /// Compatibility (buildx): only type=…,disabled=true is accepted; kiln produces no attestations
    #[arg(long)]
    pub attest: Vec<String>,
    /// Compatibility (buildx): network.host or security.insecure; kiln needs no entitlement
    /// (RUN --security=insecure stays unsupported)
    #[arg(long, value_delimiter = ',')]
    pub allow: Vec<String>,
}

/// `--build-context` values: what the compiler sees, and the client directories of the
/// local ones by their Local source name (`context:NAME`).
#[derive(Debug, Clone, Default)]
pub struct NamedContexts {
    pub compile: BTreeMap<String, NamedContext>,
    pub dirs: BTreeMap<String, PathBuf>,
}

/// Parses `NAME=VALUE` pairs: VALUE a local directory or `docker-image://REF`.
pub fn named_contexts(list: &[String]) -> anyhow::Result<NamedContexts> {
    let mut out = NamedContexts::default();
    for item in list {
        let Some((name, value)) = item.split_once('=') else {
            bail!(
                "--build-context {item:?}: expected NAME=VALUE (a directory or docker-image://REF)"
            );
        };
        let name = name.trim();
        if name.is_empty() || value.is_empty() {
            bail!("--build-context {item:?}: NAME and VALUE must not be empty");
        }
        if out.compile.contains_key(name) {
            bail!("--build-context {name}: given twice; give each name once");
        }
        let context = if let Some(reference) = value.strip_prefix("docker-image://") {
            if reference.is_empty() {
                bail!("--build-context {name}=docker-image://: the image reference is missing");
            }
            NamedContext::Image(reference.to_string())
        } else if let Some((scheme, _)) = value.split_once("://") {
            bail!(
                "--build-context {name}={value}: {scheme}:// contexts are not supported by kiln; use a local directory or docker-image://REF"
            );
        } else if value.starts_with("target:") {
            bail!("--build-context {name}={value}: target: contexts are a buildx bake feature; use a local directory or docker-image://REF");
        } else {
            let dir = std::fs::canonicalize(value).with_context(|| {
                format!("--build-context {name}={value}: the directory cannot be opened")
            })?;
            if !dir.is_dir() {
                bail!("--build-context {name}={value}: not a directory (kiln takes a local directory or docker-image://REF)");
            }
            // BuildKit applies the named directory's own .dockerignore to it.
            let ignore = dir.join(".dockerignore");
            let exclude = if ignore.is_file() {
                super::input::read_ignore_file(&ignore)?
            } else {
                Vec::new()
            };
            out.dirs.insert(local_source_name(name), dir);
            NamedContext::Local { exclude }
        };
        out.compile.insert(name.to_string(), context);
    }
    Ok(out)
}

/// `--network default|host|none` for every RUN that does not choose its own.
pub fn network(value: Option<&str>) -> anyhow::Result<NetworkMode> {
    match value {
        None | Some("default") => Ok(NetworkMode::Default),
        Some("host") => Ok(NetworkMode::Host),
        Some("none") => Ok(NetworkMode::None),
        Some(other) => bail!(
            "--network {other}: builds support default, host or none (RUN steps cannot join networks)"
        ),
    }
}

/// `--add-host NAME:IP` (or Docker's newer `NAME=IP`, which suits IPv6 addresses).
pub fn host_entry(s: &str) -> anyhow::Result<HostEntry> {
    let split = if s.contains('=') {
        s.split_once('=')
    } else {
        s.split_once(':')
    };
    let Some((name, address)) = split.filter(|(n, a)| !n.is_empty() && !a.is_empty()) else {
        bail!("--add-host {s:?}: expected NAME:IP (or NAME=IP)");
    };
    if address == "host-gateway" {
        bail!("--add-host {s}: host-gateway is not supported in builds (RUN steps use the host's network); give the address, e.g. {name}:127.0.0.1");
    }
    let ip: std::net::IpAddr = address
        .trim_matches(|c| c == '[' || c == ']')
        .parse()
        .with_context(|| format!("--add-host {s}: {address:?} is not an IP address"))?;
    Ok(HostEntry {
        name: name.to_string(),
        address: ip.to_string(),
    })
}

/// `--ulimit name=soft[:hard]`, as `kiln run` takes it.
pub fn ulimit(s: &str) -> anyhow::Result<Ulimit> {
    let r = kiln_runtime::config::parse_ulimit(s).with_context(|| {
        format!("--ulimit {s:?}: expected NAME=SOFT[:HARD] with NAME one of core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack")
    })?;
    if r.soft > r.hard {
        bail!("--ulimit {s}: the soft limit is above the hard limit");
    }
    let name = s.split_once('=').map(|(n, _)| n).unwrap_or(s);
    Ok(Ulimit {
        name: name.to_string(),
        soft: r.soft,
        hard: r.hard,
    })
}

/// Everything `kiln build` gives each RUN: the network and the settings.
pub fn run_settings(args: &CompatArgs) -> anyhow::Result<(NetworkMode, RunSettings)> {
    run_settings_of(
        args.network.as_deref(),
        &args.add_hosts,
        &args.ulimits,
        args.shm_size.as_deref(),
    )
}

/// [`run_settings`] from the flags' values (as the daemon receives them).
pub fn run_settings_of(
    network_flag: Option<&str>,
    add_hosts: &[String],
    ulimits: &[String],
    shm_size: Option<&str>,
) -> anyhow::Result<(NetworkMode, RunSettings)> {
    let network = network(network_flag)?;
    let settings = RunSettings {
        extra_hosts: add_hosts
            .iter()
            .map(|h| host_entry(h))
            .collect::<anyhow::Result<_>>()?,
        ulimits: ulimits
            .iter()
            .map(|u| ulimit(u))
            .collect::<anyhow::Result<_>>()?,
        shm_size: match shm_size {
            Some(s) => Some(
                crate::cmd::container_opts::parse_memory(s)
                    .with_context(|| format!("--shm-size {s}"))?,
            ),
            None => None,
        },
    };
    Ok((network, settings))
}

fn disabled(v: &str) -> bool {
    matches!(v.trim().to_ascii_lowercase().as_str(), "false" | "0")
}

/// `--allow` takes BuildKit's entitlements; anything else is a typo worth reporting.
pub fn check_entitlements(args: &CompatArgs) -> anyhow::Result<()> {
    for a in &args.allow {
        if !matches!(a.trim(), "network.host" | "security.insecure") {
            bail!("--allow {a}: unknown entitlement; BuildKit's are network.host and security.insecure");
        }
    }
    Ok(())
}

/// Refuses attestation requests kiln cannot honour; `--provenance=false`,
/// `--sbom=false` and `--attest type=…,disabled=true` are accepted (nothing to turn off).
pub fn check_attestations(args: &CompatArgs) -> anyhow::Result<()> {
    const NONE: &str =
        "kiln does not produce attestations (provenance, SBOM); remove the flag or turn it off";
    if let Some(p) = args.provenance.as_deref().filter(|v| !disabled(v)) {
        bail!("--provenance={p}: {NONE} (--provenance=false)");
    }
    if let Some(s) = args.sbom.as_deref().filter(|v| !disabled(v)) {
        bail!("--sbom={s}: {NONE} (--sbom=false)");
    }
    for a in &args.attest {
        let off = a.split(',').any(|f| {
            f.split_once('=')
                .is_some_and(|(k, v)| k.trim() == "disabled" && v.trim() == "true")
        });
        if !off {
            bail!("--attest {a}: {NONE} (--attest type=…,disabled=true)");
        }
    }
    Ok(())
}

/// `--annotation KEY=VALUE` (or `manifest:KEY=VALUE`): annotations of the image manifest.
pub fn annotations(list: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for a in list {
        let Some((key, value)) = a.split_once('=') else {
            bail!("--annotation {a:?}: expected KEY=VALUE");
        };
        let key = match key.split_once(':') {
            Some(("manifest", k)) => k,
            Some(("index" | "manifest-descriptor" | "index-descriptor", _)) => bail!(
                "--annotation {a}: kiln writes single-platform images (no index); only manifest annotations are supported"
            ),
            _ => key,
        };
        if key.is_empty() {
            bail!("--annotation {a:?}: the key is empty");
        }
        out.insert(key.to_string(), value.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts_ulimits_and_networks() {
        let h = host_entry("db:10.1.2.3").unwrap();
        assert_eq!((h.name.as_str(), h.address.as_str()), ("db", "10.1.2.3"));
        let h6 = host_entry("v6=::1").unwrap();
        assert_eq!(h6.address, "::1");
        assert!(host_entry("db").is_err());
        assert!(host_entry("db:not-an-ip").is_err());
        assert!(host_entry("gw:host-gateway").is_err());
        let u = ulimit("nofile=512:1024").unwrap();
        assert_eq!((u.name.as_str(), u.soft, u.hard), ("nofile", 512, 1024));
        assert!(ulimit("nofile=2048:1024").is_err());
        assert!(ulimit("bogus=1").is_err());
        assert_eq!(network(Some("none")).unwrap(), NetworkMode::None);
        assert_eq!(network(None).unwrap(), NetworkMode::Default);
        assert!(network(Some("bridge")).is_err());
    }

    #[test]
    fn named_contexts_take_dirs_and_images_and_refuse_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let n =
            named_contexts(&[format!("docs={d}"), "base=docker-image://busybox".into()]).unwrap();
        assert_eq!(n.compile["docs"], NamedContext::Local { exclude: vec![] });
        assert_eq!(n.compile["base"], NamedContext::Image("busybox".into()));
        assert_eq!(n.dirs.len(), 1);
        assert!(n.dirs.contains_key("context:docs"));
        for bad in [
            "x".to_string(),
            "x=https://e.com/a.tar".into(),
            "x=target:foo".into(),
            "x=/no/such/dir".into(),
            "x=docker-image://".into(),
            format!("x={d}/../{}/missing", dir.path().display()),
        ] {
            assert!(named_contexts(std::slice::from_ref(&bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn annotations_are_manifest_level() {
        let a = annotations(&["a=1".into(), "manifest:org.b=2".into()]).unwrap();
        assert_eq!(a["a"], "1");
        assert_eq!(a["org.b"], "2");
        assert!(annotations(&["index:a=1".into()]).is_err());
        assert!(annotations(&["novalue".into()]).is_err());
    }
}
