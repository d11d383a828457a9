//! The v1 hierarchies a container uses only sometimes: the device cgroup wherever it is
//! mounted, and a cpuset when `--cpuset-cpus` asks for one.

use super::discover::Hierarchies;
use super::{cpuset, devices, CgroupError};
use crate::spec::Limits;
use std::path::PathBuf;

/// Creates `name` in each such hierarchy below the caller's cgroup and configures it;
/// every directory made is pushed to `dirs` at once, so the caller removes it even when a
/// later step fails.
pub(super) fn create_v1(
    hierarchies: &Hierarchies,
    name: &str,
    limits: &Limits,
    device_rules: &Option<Vec<String>>,
    dirs: &mut Vec<PathBuf>,
) -> Result<(), CgroupError> {
    let mut wanted: Vec<&str> = vec!["devices"];
    if limits.cpuset_cpus.is_some() {
        wanted.push("cpuset");
    }
    for controller in wanted {
        let parent = match hierarchies.own_dir(Some(controller)) {
            Ok(p) => p,
            // A host without a device hierarchy still runs containers (as before it).
            Err(e) if controller == "devices" => {
                tracing::debug!("no device cgroup: {e}");
                continue;
            }
            Err(e) => return Err(e),
        };
        let dir = parent.join(name);
        std::fs::create_dir(&dir).map_err(|source| CgroupError::Create {
            path: dir.clone(),
            source,
        })?;
        dirs.push(dir.clone());
        match (controller, &limits.cpuset_cpus) {
            ("cpuset", Some(cpus)) => cpuset::apply_v1(&dir, cpus)?,
            _ => devices::apply_v1(&dir, device_rules)?,
        }
    }
    Ok(())
}
