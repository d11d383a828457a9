//! The isolation flags `create` and `run` share (`--ipc`, `--pid`, `--uts`, `--device`,
//! `--cap-add`, `--cap-drop`, `--privileged`, `--cpuset-cpus`) and their runtime form.

use anyhow::Context;
use clap::Args;
use kiln_runtime::isolation::{parse_uts, IpcMode, Isolation, PidMode};

#[derive(Debug, Args, Clone, Default, PartialEq)]
pub struct IsolationFlags {
    /// IPC namespace: private, shareable, host or container:<name|id>
    #[arg(long)]
    pub ipc: Option<String>,
    /// PID namespace: host or container:<name|id>
    #[arg(long)]
    pub pid: Option<String>,
    /// UTS namespace: host
    #[arg(long)]
    pub uts: Option<String>,
    /// Add a host device: /dev/x[:/dev/y][:rwm]
    #[arg(long = "device")]
    pub device: Vec<String>,
    /// Add a capability (NET_ADMIN, ... or ALL)
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop a capability (CHOWN, ... or ALL)
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Every capability and host device, no seccomp filter, no masked paths
    #[arg(long)]
    pub privileged: bool,
    /// CPUs the container may use (0-2,4)
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
}

impl IsolationFlags {
    /// The runtime's settings, with `--shm-size` (kept among the other flags).
    pub fn to_isolation(&self, shm_size: Option<&str>) -> anyhow::Result<Isolation> {
        let devices = self
            .device
            .iter()
            .map(|d| kiln_executor::Device::parse(d).map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<Vec<_>>>()?;
        // Unknown capability names fail now rather than at start.
        kiln_executor::capabilities_with(&self.cap_add, &self.cap_drop)
            .map_err(anyhow::Error::msg)?;
        let shm_size = match shm_size {
            Some(s) => Some(super::container_opts::parse_memory(s).context("--shm-size")?),
            None => None,
        };
        Ok(Isolation {
            ipc: IpcMode::parse(self.ipc.as_deref().unwrap_or(""))?,
            pid: PidMode::parse(self.pid.as_deref().unwrap_or(""))?,
            uts_host: parse_uts(self.uts.as_deref().unwrap_or(""))?,
            devices,
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            privileged: self.privileged,
            cpuset_cpus: self.cpuset_cpus.clone(),
            shm_size,
        })
    }
}
