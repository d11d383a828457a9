//! `top` and `stats`: a container's processes and its resource figures from /proc and its
//! cgroups (CPU from two samples of the processes' CPU time, memory and pids from cgroups).

use crate::procs;
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};

/// One process of a container, as `top` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessInfo {
    pub uid: u32,
    pub pid: i32,
    pub ppid: i32,
    /// CPU time (user + system) in seconds.
    pub cpu_secs: u64,
    pub cmd: String,
}

fn ticks_per_sec() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// (ppid, utime + stime in ticks) from /proc/<pid>/stat.
fn stat_fields(pid: i32) -> Option<(i32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest: Vec<&str> = stat
        .get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .collect();
    // rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
    let ppid = rest.get(1)?.parse().ok()?;
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    Some((ppid, utime + stime))
}

pub fn processes(init_pid: i32) -> Vec<ProcessInfo> {
    procs::container_pids(init_pid)
        .into_iter()
        .filter_map(|pid| {
            let (ppid, ticks) = stat_fields(pid)?;
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let uid = status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next())
                .and_then(|u| u.parse().ok())
                .unwrap_or(0);
            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmd = raw
                .split(|b| *b == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect::<Vec<_>>()
                .join(" ");
            Some(ProcessInfo {
                uid,
                pid,
                ppid,
                cpu_secs: ticks / ticks_per_sec(),
                cmd,
            })
        })
        .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub cpu_percent: f64,
    pub mem_usage: u64,
    pub mem_limit: u64,
    pub pids: u64,
}

fn read_u64(p: &Path) -> Option<u64> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn cpu_ticks(init_pid: i32) -> u64 {
    procs::container_pids(init_pid)
        .into_iter()
        .filter_map(stat_fields)
        .map(|(_, t)| t)
        .sum()
}

/// Samples the container whose init is `init_pid` over `window`.
pub fn sample(init_pid: i32, window: Duration) -> Stats {
    let t0 = Instant::now();
    let c0 = cpu_ticks(init_pid);
    std::thread::sleep(window);
    let c1 = cpu_ticks(init_pid);
    let secs = t0.elapsed().as_secs_f64();
    let cpu_percent = if secs > 0.0 {
        (c1.saturating_sub(c0)) as f64 / ticks_per_sec() as f64 / secs * 100.0
    } else {
        0.0
    };
    let dirs = procs::cgroup_dirs(init_pid);
    let v2 = procs::unified_only();
    let mem = procs::controller_dir(&dirs, "memory");
    let (mut usage, mut limit) = (0, 0);
    if let Some(m) = &mem {
        if v2 {
            usage = read_u64(&m.join("memory.current")).unwrap_or(0);
            limit = read_u64(&m.join("memory.max")).unwrap_or(u64::MAX);
        } else {
            usage = read_u64(&m.join("memory.usage_in_bytes")).unwrap_or(0);
            limit = read_u64(&m.join("memory.limit_in_bytes")).unwrap_or(u64::MAX);
            // Docker leaves out inactive page cache.
            let inactive = std::fs::read_to_string(m.join("memory.stat"))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("total_inactive_file "))
                        .and_then(|v| v.trim().parse::<u64>().ok())
                })
                .unwrap_or(0);
            usage = usage.saturating_sub(inactive);
        }
    }
    let host = host_memory();
    if host > 0 && limit > host {
        limit = host;
    }
    let pids = procs::controller_dir(&dirs, "pids")
        .and_then(|d| read_u64(&d.join("pids.current")))
        .unwrap_or_else(|| procs::container_pids(init_pid).len() as u64);
    Stats {
        cpu_percent,
        mem_usage: usage,
        mem_limit: limit,
        pids,
    }
}
