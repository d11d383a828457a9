//! Finding the caller's own cgroups: hierarchies from /proc/self/mountinfo, membership
//! from /proc/self/cgroup, both read once per container (not once per hierarchy).

use super::{read, CgroupError};
use std::path::{Path, PathBuf};

/// A snapshot of the calling process's mount table and cgroup membership.
pub(super) struct Hierarchies {
    mountinfo: String,
    cgroup: String,
}

impl Hierarchies {
    pub fn read() -> Result<Hierarchies, CgroupError> {
        Ok(Hierarchies {
            mountinfo: read(Path::new("/proc/self/mountinfo"))?,
            cgroup: read(Path::new("/proc/self/cgroup"))?,
        })
    }

    /// The directory of the calling process's cgroup in the v1 hierarchy holding
    /// `controller`, or in the v2 hierarchy when `controller` is `None`.
    pub fn own_dir(&self, controller: Option<&str>) -> Result<PathBuf, CgroupError> {
        own_cgroup_dir(&self.mountinfo, &self.cgroup, controller)
    }

    /// One key (a controller or `name=...`) per mounted v1 hierarchy.
    pub fn v1_keys(&self) -> Vec<String> {
        v1_hierarchy_keys(&self.mountinfo)
    }
}

fn own_cgroup_dir(
    mountinfo: &str,
    cgroup: &str,
    controller: Option<&str>,
) -> Result<PathBuf, CgroupError> {
    let missing = CgroupError::NoController {
        controller: controller.map_or_else(|| "cgroup2".to_string(), str::to_string),
    };
    // mountinfo: id parent maj:min root mountpoint opts... - fstype source superopts
    let mount = mountinfo.lines().find_map(|line| {
        let (pre, post) = line.split_once(" - ")?;
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        let fstype = *post.first()?;
        let matches = match controller {
            None => fstype == "cgroup2",
            Some(c) => fstype == "cgroup" && post.get(2)?.split(',').any(|o| o == c),
        };
        matches.then(|| (pre.get(3).copied(), pre.get(4).copied()))
    });
    let (Some(root), Some(mountpoint)) = mount.ok_or(missing)? else {
        return Err(CgroupError::NoController {
            controller: controller.map_or_else(|| "cgroup2".to_string(), str::to_string),
        });
    };
    // /proc/self/cgroup: hierarchy-id:controllers:path
    let path = cgroup.lines().find_map(|line| {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
        let matches = match controller {
            None => ctrls.is_empty(),
            Some(c) => ctrls.split(',').any(|x| x == c),
        };
        matches.then_some(path)
    });
    let path = path.unwrap_or("/");
    let rel = path
        .strip_prefix(root)
        .unwrap_or(path)
        .trim_start_matches('/');
    Ok(Path::new(mountpoint).join(rel))
}

fn v1_hierarchy_keys(mountinfo: &str) -> Vec<String> {
    let mut keys = Vec::new();
    for line in mountinfo.lines() {
        let Some((_, post)) = line.split_once(" - ") else {
            continue;
        };
        let post: Vec<&str> = post.split(' ').collect();
        if post.first() != Some(&"cgroup") {
            continue;
        }
        let key = post.get(2).and_then(|opts| {
            opts.split(',').find(|o| {
                !matches!(
                    *o,
                    "rw" | "ro"
                        | "relatime"
                        | "noatime"
                        | "nosuid"
                        | "nodev"
                        | "noexec"
                        | "clone_children"
                        | "xattr"
                ) && !o.starts_with("release_agent")
            })
        });
        if let Some(k) = key {
            keys.push(k.to_string());
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 /outer /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const CGROUP: &str = "\
9:name=systemd:/
4:memory:/outer/job/7
1:cpu:/
0::/svc
";

    #[test]
    fn paths_are_relative_to_each_mounts_root() {
        let h = Hierarchies {
            mountinfo: MOUNTINFO.into(),
            cgroup: CGROUP.into(),
        };
        assert_eq!(
            h.own_dir(Some("memory")).unwrap(),
            Path::new("/sys/fs/cgroup/memory/job/7")
        );
        assert_eq!(
            h.own_dir(Some("cpu")).unwrap(),
            Path::new("/sys/fs/cgroup/cpu")
        );
        assert_eq!(
            h.own_dir(None).unwrap(),
            Path::new("/sys/fs/cgroup/unified/svc")
        );
        assert!(matches!(
            h.own_dir(Some("pids")),
            Err(CgroupError::NoController { .. })
        ));
        assert_eq!(h.v1_keys(), ["cpu", "memory", "name=systemd"]);
    }
}
