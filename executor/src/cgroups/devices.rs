//! The v1 device cgroup: deny everything, then allow Docker's default set (the standard
//! nodes, ptys, and mknod of anything), the `--device` nodes with their access, or
//! everything for a privileged container. Without it a container holding CAP_MKNOD could
//! create and open a node for a host disk.

use super::{write, CgroupError};
use crate::spec::Device;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// Docker's default device rules.
const DEFAULT_RULES: &[&str] = &[
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
];

/// The `devices.allow` lines for a container; `None` means allow all (privileged).
pub(super) fn rules(
    devices: &[Device],
    privileged: bool,
) -> Result<Option<Vec<String>>, CgroupError> {
    if privileged {
        return Ok(None);
    }
    let mut out: Vec<String> = DEFAULT_RULES.iter().map(|r| r.to_string()).collect();
    for d in devices {
        let meta = std::fs::metadata(&d.host_path).map_err(|source| CgroupError::Read {
            path: d.host_path.clone(),
            source,
        })?;
        let kind = if meta.file_type().is_block_device() {
            'b'
        } else {
            'c'
        };
        let rdev = meta.rdev();
        out.push(format!(
            "{kind} {}:{} {}",
            libc::major(rdev),
            libc::minor(rdev),
            d.access
        ));
    }
    Ok(Some(out))
}

/// Writes the rules to a fresh v1 devices cgroup (before any process joins it).
pub(super) fn apply_v1(dir: &Path, rules: &Option<Vec<String>>) -> Result<(), CgroupError> {
    let Some(rules) = rules else {
        return write(&dir.join("devices.allow"), "a");
    };
    write(&dir.join("devices.deny"), "a")?;
    for r in rules {
        // A parent that does not allow a rule refuses it (kiln itself in a restricted
        // container); the container then simply lacks that device.
        if let Err(e) = write(&dir.join("devices.allow"), r) {
            tracing::warn!("device cgroup rule not applied: {e}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_rules_follow_the_host_node() {
        let null = Device {
            host_path: "/dev/null".into(),
            container_path: "/dev/n".into(),
            access: "r".into(),
        };
        let r = rules(&[null], false).unwrap().unwrap();
        assert_eq!(r.last().map(String::as_str), Some("c 1:3 r"));
        assert!(r.contains(&"c 136:* rwm".to_string()));
        assert!(rules(&[], true).unwrap().is_none());
        let missing = Device {
            host_path: "/dev/does-not-exist".into(),
            container_path: "/dev/x".into(),
            access: "rwm".into(),
        };
        assert!(rules(&[missing], false).is_err());
    }
}
