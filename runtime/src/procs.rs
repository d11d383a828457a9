//! Host-side process facts: whether a recorded pid is still the process we started (start
//! time check against pid reuse), a process's cgroup directories, and finding a container's
//! init among the processes of its cgroup.

use std::path::{Path, PathBuf};

/// A process's start time in clock ticks since boot (`/proc/<pid>/stat` field 22).
pub fn start_time(pid: i32) -> Option<u64> {
    if pid <= 0 {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses; fields resume after the last ')'.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    // rest starts at field 3 (state); field 22 is the 20th of rest.
    let field = rest.split_whitespace().nth(19)?;
    field.parse().ok()
}

/// The process's state letter (`R`, `S`, `Z`, ...).
pub fn state_letter(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

/// Whether `pid` is alive and is the same process that started at `start` (not a zombie).
pub fn alive(pid: i32, start: u64) -> bool {
    start_time(pid) == Some(start) && state_letter(pid) != Some('Z')
}

/// One cgroup hierarchy a process belongs to: the directory and the controllers it carries
/// (`["memory"]`, or empty for the v2 unified hierarchy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupDir {
    pub controllers: Vec<String>,
    pub dir: PathBuf,
}

struct CgroupMount {
    /// Super options of a v1 mount (`rw,memory`), empty for cgroup2.
    options: Vec<String>,
    v2: bool,
    root: String,
    mountpoint: PathBuf,
}

fn cgroup_mounts() -> Vec<CgroupMount> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out = Vec::new();
    for line in info.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        let (Some(root), Some(mp), Some(fstype)) = (pre.get(3), pre.get(4), post.first()) else {
            continue;
        };
        let v2 = *fstype == "cgroup2";
        if !v2 && *fstype != "cgroup" {
            continue;
        }
        out.push(CgroupMount {
            options: post
                .get(2)
                .map(|o| o.split(',').map(str::to_string).collect())
                .unwrap_or_default(),
            v2,
            root: root.to_string(),
            mountpoint: PathBuf::from(mp.replace("\\040", " ")),
        });
    }
    out
}

/// The cgroup directories (one per mounted hierarchy) that `pid` is in.
pub fn cgroup_dirs(pid: i32) -> Vec<CgroupDir> {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
        return Vec::new();
    };
    let mounts = cgroup_mounts();
    let mut out = Vec::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let controllers: Vec<String> = if ctrls.is_empty() {
            Vec::new()
        } else {
            ctrls.split(',').map(str::to_string).collect()
        };
        let mount = mounts.iter().find(|m| {
            if controllers.is_empty() {
                m.v2
            } else {
                !m.v2 && controllers.iter().all(|c| m.options.contains(c))
            }
        });
        let Some(m) = mount else { continue };
        let rel = path.strip_prefix(m.root.as_str()).unwrap_or(path);
        let dir = m.mountpoint.join(rel.trim_start_matches('/'));
        out.push(CgroupDir { controllers, dir });
    }
    out
}

/// Whether the host uses only the unified (v2) hierarchy.
pub fn unified_only() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// The directory of the hierarchy carrying `controller` (v1) or the unified one (v2).
pub fn controller_dir(dirs: &[CgroupDir], controller: &str) -> Option<PathBuf> {
    if unified_only() {
        return dirs
            .iter()
            .find(|d| d.controllers.is_empty())
            .map(|d| d.dir.clone());
    }
    dirs.iter()
        .find(|d| d.controllers.iter().any(|c| c == controller))
        .map(|d| d.dir.clone())
}

/// Pids listed in a cgroup directory's `cgroup.procs`.
pub fn cgroup_pids(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// The pid a process has in its innermost pid namespace (last `NSpid` entry).
pub fn inner_pid(pid: i32) -> Option<i32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("NSpid:"))?;
    line.split_whitespace().last()?.parse().ok()
}

/// The container's init (pid 1 inside) among the processes of the executor's cgroup for
/// container `id`, which sits as `kiln-<id>` below the cgroup of `parent_pid` (the process
/// that ran the executor: the monitor).
pub fn find_container_init(parent_pid: i32, id: &str) -> Option<i32> {
    let dirs = cgroup_dirs(parent_pid);
    let base = controller_dir(&dirs, "pids")?;
    let dir = base.join(format!("kiln-{id}"));
    let pids = cgroup_pids(&dir);
    // pid 1 inside; with `--pid host|container:` the one whose parent (the executor's
    // helper) is outside the container's cgroup.
    pids.iter()
        .copied()
        .find(|p| inner_pid(*p) == Some(1))
        .or_else(|| {
            pids.iter()
                .copied()
                .find(|p| parent_of(*p).is_some_and(|pp| !pids.contains(&pp)))
        })
}

/// A process's parent (`/proc/<pid>/stat` field 4).
pub fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Whether `pid` is a process of container `id` (in its `kiln-<id>` cgroup), which also
/// rules out a reused pid.
pub fn is_init_of(pid: i32, id: &str) -> bool {
    let name = format!("kiln-{id}");
    pid > 0
        && std::fs::read_to_string(format!("/proc/{pid}/cgroup")).is_ok_and(|t| {
            t.lines()
                .any(|l| l.rsplit('/').next().is_some_and(|last| last == name))
        })
}

/// Whether `pid` is some container's process: pid 1 of its namespace, or in a `kiln-…`
/// cgroup (containers sharing the host's or another container's pid namespace).
pub fn is_container_process(pid: i32) -> bool {
    inner_pid(pid) == Some(1)
        || std::fs::read_to_string(format!("/proc/{pid}/cgroup")).is_ok_and(|t| {
            t.lines().any(|l| {
                l.rsplit('/')
                    .next()
                    .is_some_and(|last| last.starts_with("kiln-"))
            })
        })
}

/// Whether `pid` runs another program than this one: the container's init is the kiln
/// helper until its setup finishes and it execs the container's command.
pub fn has_execed(pid: i32) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Ok(theirs), Ok(ours)) = (
        std::fs::metadata(format!("/proc/{pid}/exe")),
        std::fs::metadata("/proc/self/exe"),
    ) else {
        return false;
    };
    (theirs.dev(), theirs.ino()) != (ours.dev(), ours.ino())
}

/// Every process of the container whose init is `init_pid`, init first.
pub fn container_pids(init_pid: i32) -> Vec<i32> {
    let dirs = cgroup_dirs(init_pid);
    let Some(dir) = controller_dir(&dirs, "pids") else {
        return vec![init_pid];
    };
    let mut pids = cgroup_pids(&dir);
    pids.sort_by_key(|p| (*p != init_pid, *p));
    pids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_facts() {
        let me = std::process::id() as i32;
        let st = start_time(me).unwrap();
        assert!(alive(me, st));
        assert!(!alive(me, st + 1));
        assert!(!alive(0, 0));
        assert_eq!(inner_pid(me), Some(me));
        assert!(!cgroup_dirs(me).is_empty());
        assert!(controller_dir(&cgroup_dirs(me), "memory").is_some());
    }
}
