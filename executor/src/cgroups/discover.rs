//! Finding the caller's own cgroups: hierarchies from /proc/self/mountinfo, membership
//! from /proc/self/cgroup.

use super::{read, CgroupError};
use std::path::{Path, PathBuf};

/// The directory of the calling process's cgroup in the v1 hierarchy holding `controller`,
/// or in the v2 hierarchy when `controller` is `None`.
pub(super) fn own_cgroup_dir(controller: Option<&str>) -> Result<PathBuf, CgroupError> {
    let mountinfo = read(Path::new("/proc/self/mountinfo"))?;
    let cgroup = read(Path::new("/proc/self/cgroup"))?;
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

/// One key (a controller or `name=...`) per mounted v1 hierarchy.
pub(super) fn v1_hierarchy_keys() -> Result<Vec<String>, CgroupError> {
    let mountinfo = read(Path::new("/proc/self/mountinfo"))?;
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
    Ok(keys)
}
