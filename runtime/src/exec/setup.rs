//! The exec helper's steps: join cgroups and namespaces, fork, become a container process.

use super::{ExecConfig, ExecIntoError};
use crate::procs;
use kiln_executor::spec::{DEFAULT_CAPABILITIES, DEFAULT_PATH};
use nix::sched::{setns, CloneFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::str::FromStr;

/// Namespaces joined, mount last: once in the container's mount namespace, /proc paths of
/// the host are no longer reachable.
const NAMESPACES: &[(&str, CloneFlags)] = &[
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

pub(super) fn run(cfg: &ExecConfig) -> Result<i32, ExecIntoError> {
    if cfg.args.is_empty() {
        return Err(ExecIntoError::Invalid("no command given".into()));
    }
    if !procs::is_container_process(cfg.pid) {
        return Err(ExecIntoError::Invalid(format!(
            "process {} is not a running container's init",
            cfg.pid
        )));
    }
    // Read in the host's /proc, before joining the container's mount namespace.
    let security = crate::exec::container_security(cfg.pid);
    let mut fds: Vec<(OwnedFd, CloneFlags, &str)> = Vec::new();
    for (name, flag) in NAMESPACES {
        let path = format!("/proc/{}/ns/{name}", cfg.pid);
        let fd = nix::fcntl::open(
            path.as_str(),
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(ExecIntoError::sys(format!("opening {path}")))?;
        // SAFETY: `open` returned a fresh descriptor that nothing else owns.
        fds.push((
            unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) },
            *flag,
            name,
        ));
    }
    let me = std::process::id();
    for dir in procs::cgroup_dirs(cfg.pid) {
        let procs_file = dir.dir.join("cgroup.procs");
        if let Err(e) = std::fs::write(&procs_file, me.to_string()) {
            return Err(ExecIntoError::Invalid(format!(
                "joining the container's cgroup {}: {e}",
                procs_file.display()
            )));
        }
    }
    for (fd, flag, name) in &fds {
        setns(fd, *flag).map_err(ExecIntoError::sys(format!("joining the {name} namespace")))?;
    }
    drop(fds);
    let pty = if cfg.tty {
        Some(nix::pty::openpty(None, None).map_err(ExecIntoError::sys("openpty"))?)
    } else {
        None
    };
    // SAFETY: this process is single-threaded (the exec hook runs before anything else in
    // main), so the child may run arbitrary code after fork.
    match unsafe { fork() }.map_err(ExecIntoError::sys("fork"))? {
        ForkResult::Child => {
            if let Some(p) = &pty {
                if let Err(e) = attach_tty(p.slave.as_raw_fd()) {
                    eprintln!("kiln exec: {e}");
                    std::process::exit(125);
                }
            }
            drop(pty);
            let err = become_process(cfg, security);
            eprintln!("kiln exec: {}", err.1);
            std::process::exit(err.0);
        }
        ForkResult::Parent { child } => {
            if cfg.detach {
                return Ok(0);
            }
            if let Some(p) = pty {
                drop(p.slave);
                super::relay::relay_tty(p.master);
            }
            loop {
                match waitpid(child, None) {
                    Ok(WaitStatus::Exited(_, code)) => return Ok(code),
                    Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
                    Ok(_) => continue,
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(ExecIntoError::sys("waiting for the process")(e)),
                }
            }
        }
    }
}

fn attach_tty(slave: i32) -> Result<(), ExecIntoError> {
    nix::unistd::setsid().map_err(ExecIntoError::sys("setsid"))?;
    // SAFETY: TIOCSCTTY on our own terminal descriptor.
    if unsafe { libc::ioctl(slave, libc::TIOCSCTTY, 0) } < 0 {
        return Err(ExecIntoError::sys("TIOCSCTTY")(nix::errno::Errno::last()));
    }
    for fd in 0..3 {
        nix::unistd::dup2(slave, fd).map_err(ExecIntoError::sys("dup2 tty"))?;
    }
    Ok(())
}

/// In the container: user, cwd, environment, seccomp, capabilities, exec. Returns only on
/// failure, with Docker's exit code for it.
fn become_process(
    cfg: &ExecConfig,
    (filtered, keep): (bool, Option<caps::CapsHashSet>),
) -> (i32, String) {
    let user = match kiln_executor::user::resolve(
        cfg.user.as_deref().unwrap_or(""),
        std::fs::read_to_string("/etc/passwd").ok().as_deref(),
        std::fs::read_to_string("/etc/group").ok().as_deref(),
    ) {
        Ok(u) => u,
        Err(e) => return (126, e.to_string()),
    };
    let cwd = cfg.cwd.as_deref().filter(|c| !c.is_empty()).unwrap_or("/");
    if let Err(e) = nix::unistd::chdir(cwd) {
        return (126, format!("working directory {cwd:?}: {e}"));
    }
    let mut env = cfg.env.clone();
    let has = |env: &[String], k: &str| env.iter().any(|e| e.split('=').next() == Some(k));
    if !has(&env, "PATH") {
        env.push(format!("PATH={DEFAULT_PATH}"));
    }
    if !has(&env, "HOSTNAME") {
        env.push(format!("HOSTNAME={}", cfg.hostname));
    }
    if !has(&env, "HOME") {
        env.push(format!("HOME={}", user.home));
    }
    if cfg.tty && !has(&env, "TERM") {
        env.push("TERM=xterm".into());
    }
    // Only 0, 1 and 2 reach the process: nothing the caller had open leaks in.
    // SAFETY: plain syscall on our own descriptor table.
    let closed = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if closed < 0 {
        return (
            125,
            format!("close_range: {}", std::io::Error::last_os_error()),
        );
    }
    // The container's own settings (`--privileged`, `--cap-add`, ...), read off its init:
    // no filter when it has none, and its bounding set as the capabilities to keep.
    if filtered {
        if let Err(e) = kiln_executor::seccomp::load_default() {
            return (125, format!("seccomp: {e}"));
        }
    }
    if let Err(e) = drop_privileges(&user, keep) {
        return (125, e);
    }
    exec(&cfg.args, &env)
}

fn drop_privileges(
    user: &kiln_executor::user::ResolvedUser,
    container_caps: Option<caps::CapsHashSet>,
) -> Result<(), String> {
    use caps::{CapSet, Capability, CapsHashSet};
    let keep: CapsHashSet = container_caps.unwrap_or_else(|| {
        DEFAULT_CAPABILITIES
            .iter()
            .filter_map(|n| Capability::from_str(n).ok())
            .collect()
    });
    for cap in caps::all() {
        if !keep.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap).map_err(|e| format!("bounding set: {e}"))?;
        }
    }
    nix::sys::prctl::set_keepcaps(true).map_err(|e| format!("PR_SET_KEEPCAPS: {e}"))?;
    let groups: Vec<nix::unistd::Gid> = user
        .additional_gids
        .iter()
        .map(|g| nix::unistd::Gid::from_raw(*g))
        .collect();
    nix::unistd::setgroups(&groups).map_err(|e| format!("setgroups: {e}"))?;
    let gid = nix::unistd::Gid::from_raw(user.gid);
    nix::unistd::setresgid(gid, gid, gid).map_err(|e| format!("setgid {}: {e}", user.gid))?;
    let uid = nix::unistd::Uid::from_raw(user.uid);
    nix::unistd::setresuid(uid, uid, uid).map_err(|e| format!("setuid {}: {e}", user.uid))?;
    nix::sys::prctl::set_keepcaps(false).map_err(|e| format!("PR_SET_KEEPCAPS: {e}"))?;
    caps::clear(None, CapSet::Inheritable).map_err(|e| format!("inheritable caps: {e}"))?;
    caps::set(None, CapSet::Effective, &keep).map_err(|e| format!("effective caps: {e}"))?;
    caps::set(None, CapSet::Permitted, &keep).map_err(|e| format!("permitted caps: {e}"))?;
    caps::clear(None, CapSet::Ambient).map_err(|e| format!("ambient caps: {e}"))?;
    Ok(())
}

/// execve with the lookup in the container's PATH; 127 not found, 126 not executable.
fn exec(args: &[String], env: &[String]) -> (i32, String) {
    let to_c = |s: &String| CString::new(s.as_bytes()).ok();
    let (Some(argv), Some(envp)) = (
        args.iter().map(to_c).collect::<Option<Vec<_>>>(),
        env.iter().map(to_c).collect::<Option<Vec<_>>>(),
    ) else {
        return (125, "argument or environment contains a NUL byte".into());
    };
    let Some(prog) = args.first() else {
        return (125, "no command".into());
    };
    let candidates: Vec<String> = if prog.contains('/') {
        vec![prog.clone()]
    } else {
        let path = env
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH);
        path.split(':')
            .map(|d| format!("{}/{prog}", if d.is_empty() { "." } else { d }))
            .collect()
    };
    let mut denied = None;
    for c in &candidates {
        let Ok(path) = CString::new(c.as_bytes()) else {
            continue;
        };
        match nix::unistd::execve(&path, &argv, &envp) {
            Ok(never) => match never {},
            Err(nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR) => continue,
            Err(e) => {
                denied.get_or_insert((c.clone(), e));
            }
        }
    }
    match denied {
        Some((c, e)) => (126, format!("{c}: cannot execute: {}", e.desc())),
        None => (127, format!("{prog}: executable file not found in $PATH")),
    }
}
