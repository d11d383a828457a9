//! `kiln container …`: `inspect` (Docker-shaped JSON: State incl. OOMKilled, ExitCode and
//! Health; Config; HostConfig; Mounts; or rendered with `--format`), `prune`, and Docker's
//! `container ls|create|start|…` spellings of the top-level commands.

use clap::{Args, Subcommand};
use kiln_runtime::config::volume_data;
use kiln_runtime::{lifecycle, ContainerRecord, MountSource, RestartPolicy, State};
use serde_json::{json, Value};
use std::path::Path;

use super::container_opts::open_store;
use kiln_runtime::isolation::{IpcMode, PidMode};

/// Docker's `HostConfig.IpcMode` spelling.
fn ipc_mode(m: &IpcMode) -> String {
    match m {
        IpcMode::Private => "private".into(),
        IpcMode::Shareable => "shareable".into(),
        IpcMode::Host => "host".into(),
        IpcMode::Container(t) => format!("container:{t}"),
    }
}
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct ContainerArgs {
    #[command(subcommand)]
    pub command: ContainerCommand,
}

#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// List containers (as `kiln ps`)
    Ls(super::ps::PsArgs),
    /// Create a container (as `kiln create`)
    Create(super::create::CreateArgs),
    /// Start containers (as `kiln start`)
    Start(super::start::StartArgs),
    /// Stop containers (as `kiln stop`)
    Stop(super::stop::StopArgs),
    /// Restart containers (as `kiln restart`)
    Restart(super::restart::RestartArgs),
    /// Signal containers (as `kiln kill`)
    Kill(super::kill::KillArgs),
    /// Remove containers (as `kiln rm`)
    Rm(super::rm::RmArgs),
    /// Show a container's logs (as `kiln logs`)
    Logs(super::logs::LogsArgs),
    /// Run a command in a container (as `kiln exec`)
    Exec(super::exec::ExecArgs),
    /// Wait for containers (as `kiln wait`)
    Wait(super::wait::WaitArgs),
    /// Remove all stopped containers
    Prune {
        /// Do not ask (kiln never asks; accepted for Docker compatibility)
        #[arg(short = 'f', long)]
        force: bool,
    },
    /// Show containers as JSON
    Inspect {
        /// Go-template-like format, e.g. '{{.State.ExitCode}}'
        #[arg(short = 'f', long)]
        format: Option<String>,
        #[arg(required = true)]
        containers: Vec<String>,
    },
}

pub fn inspect_value(root: &Path, rec: &ContainerRecord) -> Value {
    let c = &rec.config;
    let (restart_name, max_retries) = match c.restart {
        RestartPolicy::OnFailure { max_retries } => ("on-failure", max_retries),
        p => (p.name(), 0),
    };
    let mounts: Vec<Value> = c
        .mounts
        .iter()
        .map(|m| match &m.source {
            MountSource::Bind(p) => json!({
                "Type": "bind", "Source": p, "Destination": m.destination,
                "RW": !m.readonly, "Mode": if m.readonly { "ro" } else { "" },
            }),
            MountSource::Volume { name, .. } => json!({
                "Type": "volume", "Name": name, "Source": volume_data(root, name),
                "Destination": m.destination, "Driver": "local", "RW": !m.readonly,
            }),
            MountSource::Tmpfs { .. } => json!({
                "Type": "tmpfs", "Source": "", "Destination": m.destination, "RW": !m.readonly,
            }),
        })
        .collect();
    let binds: Vec<String> = c
        .mounts
        .iter()
        .filter_map(|m| match &m.source {
            MountSource::Bind(p) => Some(format!(
                "{}:{}{}",
                p.display(),
                m.destination,
                if m.readonly { ":ro" } else { "" }
            )),
            MountSource::Volume {
                anonymous: false,
                name,
            } => Some(format!(
                "{name}:{}{}",
                m.destination,
                if m.readonly { ":ro" } else { "" }
            )),
            _ => None,
        })
        .collect();
    let volumes: serde_json::Map<String, Value> = c
        .mounts
        .iter()
        .map(|m| (m.destination.clone(), json!({})))
        .collect();
    json!({
        "Id": rec.id,
        "Created": rec.created,
        "Path": c.args.first(),
        "Args": c.args.get(1..).unwrap_or_default(),
        "State": {
            "Status": rec.state.as_str(),
            "Running": matches!(rec.state, State::Running | State::Paused),
            "Paused": rec.state == State::Paused,
            "Restarting": rec.state == State::Restarting,
            "OOMKilled": rec.oom_killed,
            "Dead": false,
            "Pid": rec.pid,
            "ExitCode": rec.exit_code,
            "Error": rec.error,
            "StartedAt": if rec.started_at.is_empty() { "0001-01-01T00:00:00Z" } else { &rec.started_at },
            "FinishedAt": if rec.finished_at.is_empty() { "0001-01-01T00:00:00Z" } else { &rec.finished_at },
            "Health": rec.health,
        },
        "Image": rec.image_digest,
        "Name": format!("/{}", rec.name),
        "RestartCount": rec.restart_count,
        "Config": {
            "Hostname": c.hostname.clone().unwrap_or_else(|| kiln_runtime::ids::short(&rec.id).to_string()),
            "User": c.user.clone().unwrap_or_default(),
            "Tty": c.tty,
            "OpenStdin": c.open_stdin,
            "Env": c.env,
            "Cmd": c.args,
            "Image": rec.image,
            "Volumes": volumes,
            "WorkingDir": c.workdir.clone().unwrap_or_default(),
            "Labels": c.labels,
            "StopSignal": c.stop_signal,
            "StopTimeout": c.stop_timeout,
            "Healthcheck": c.health,
        },
        "HostConfig": {
            "Binds": binds,
            "NetworkMode": c.net.mode_name(c.network_host),
            "PortBindings": c.net.publish,
            "PublishAllPorts": c.net.publish_all,
            "Links": c.net.links.iter().map(|(n, a)| format!("/{n}:/{}/{a}", rec.name)).collect::<Vec<_>>(),
            "Dns": c.net.dns,
            "DnsSearch": c.net.dns_search,
            "ExtraHosts": c.extra_hosts.iter().map(|(n, a)| format!("{n}:{a}")).collect::<Vec<_>>(),
            "RestartPolicy": { "Name": restart_name, "MaximumRetryCount": max_retries },
            "LogConfig": { "Type": c.log.driver.name(), "Config": c.log.opts },
            "AutoRemove": c.auto_remove,
            "Memory": c.memory.unwrap_or(0),
            "CpuShares": c.cpu_shares.unwrap_or(0),
            "PidsLimit": c.pids_limit,
            "ReadonlyRootfs": c.read_only,
            "Init": c.init,
            "IpcMode": ipc_mode(&c.isolation.ipc),
            "PidMode": match &c.isolation.pid {
                PidMode::Private => String::new(),
                PidMode::Host => "host".into(),
                PidMode::Container(t) => format!("container:{t}"),
            },
            "UTSMode": if c.isolation.uts_host { "host" } else { "" },
            "Privileged": c.isolation.privileged,
            "CapAdd": c.isolation.cap_add,
            "CapDrop": c.isolation.cap_drop,
            "Devices": c.isolation.devices.iter().map(|d| json!({
                "PathOnHost": d.host_path, "PathInContainer": d.container_path,
                "CgroupPermissions": d.access,
            })).collect::<Vec<_>>(),
            "CpusetCpus": c.isolation.cpuset_cpus.clone().unwrap_or_default(),
            "ShmSize": c.isolation.shm_size.unwrap_or(kiln_runtime::isolation::DEFAULT_SHM),
        },
        "Mounts": mounts,
        "NetworkSettings": super::network::network_settings(root, rec),
    })
}

pub fn run(global: &GlobalArgs, args: ContainerArgs) -> anyhow::Result<i32> {
    use ContainerCommand as C;
    match args.command {
        C::Ls(a) => super::ps::run(global, a),
        C::Create(a) => super::create::run(global, a),
        C::Start(a) => super::start::run(global, a),
        C::Stop(a) => super::stop::run(global, a),
        C::Restart(a) => super::restart::run(global, a),
        C::Kill(a) => super::kill::run(global, a),
        C::Rm(a) => super::rm::run(global, a),
        C::Logs(a) => super::logs::run(global, a),
        C::Exec(a) => super::exec::run(global, a),
        C::Wait(a) => super::wait::run(global, a),
        C::Prune { force: _ } => prune(global),
        C::Inspect { format, containers } => inspect(global, format, &containers),
    }
}

/// Removes every container whose monitor is not running.
fn prune(global: &GlobalArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    let mut removed = Vec::new();
    for rec in lifecycle::list(&store)? {
        if !lifecycle::monitor_alive(&rec) {
            lifecycle::remove(&store, &rec.id, false, false)?;
            removed.push(rec.id);
        }
    }
    if !removed.is_empty() {
        println!("Deleted Containers:");
        for id in &removed {
            println!("{id}");
        }
    }
    Ok(0)
}

fn inspect(
    global: &GlobalArgs,
    format: Option<String>,
    containers: &[String],
) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    super::format::print_inspect(
        containers,
        |r| Ok(inspect_value(store.root(), &lifecycle::find(&store, r)?)),
        format.as_deref(),
    )
}
