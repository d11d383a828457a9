//! `--cpuset-cpus`: pinning a container to CPUs with the cpuset controller.

use super::{read, write, CgroupError};
use std::path::Path;

/// Sets up a fresh v1 cpuset cgroup: a v1 cpuset starts with no CPUs and no memory nodes
/// and refuses tasks until both are set, so the memory nodes are copied from the parent.
pub(super) fn apply_v1(dir: &Path, cpus: &str) -> Result<(), CgroupError> {
    if let Some(parent) = dir.parent() {
        let mems = read(&parent.join("cpuset.mems"))?;
        write(&dir.join("cpuset.mems"), mems.trim())?;
    }
    write_cpus(dir, cpus)
}

/// Writes `cpuset.cpus`; the kernel refuses CPUs the parent does not have.
pub(super) fn write_cpus(dir: &Path, cpus: &str) -> Result<(), CgroupError> {
    validate(cpus)?;
    write(&dir.join("cpuset.cpus"), cpus)
}

/// The kernel's list format: `0`, `0-2`, `0,3-4`.
fn validate(cpus: &str) -> Result<(), CgroupError> {
    let ok = !cpus.is_empty()
        && cpus.split(',').all(|part| {
            let mut ends = part.splitn(2, '-');
            let first = ends.next().is_some_and(|a| a.parse::<u32>().is_ok());
            let second = ends.next().is_none_or(|b| b.parse::<u32>().is_ok());
            first && second
        });
    if ok {
        Ok(())
    } else {
        Err(CgroupError::Write {
            path: "cpuset.cpus".into(),
            value: cpus.to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a CPU list: use numbers and ranges such as 0-2,4",
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cpu_lists() {
        assert!(super::validate("0").is_ok());
        assert!(super::validate("0-1,3").is_ok());
        assert!(super::validate("").is_err());
        assert!(super::validate("a").is_err());
        assert!(super::validate("1-").is_err());
    }
}
