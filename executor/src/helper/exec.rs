//! The last steps inside the container: user, environment, working directory, rlimits, fd
//! hygiene, seccomp, capabilities, and the exec itself (with PATH lookup in the container's
//! environment).

use super::{Context, SetupError};
use crate::protocol::{self, FromHelper, HelperConfig, SetupFailure};
use crate::spec::{SeccompMode, DEFAULT_CAPABILITIES, DEFAULT_PATH};
use crate::user::{self, ResolvedUser};
use caps::{CapSet, Capability, CapsHashSet};
use nix::errno::Errno;
use std::convert::Infallible;
use std::ffi::CString;
use std::os::fd::BorrowedFd;
use std::path::Path;
use std::str::FromStr;

pub(super) fn exec_process(
    cfg: &HelperConfig,
    ctl: BorrowedFd<'_>,
    created: Vec<String>,
) -> Result<Infallible, SetupError> {
    let spec = &cfg.spec;
    let user = user::resolve(
        spec.process.user.as_deref().unwrap_or(""),
        std::fs::read_to_string("/etc/passwd").ok().as_deref(),
        std::fs::read_to_string("/etc/group").ok().as_deref(),
    )?;
    let env = build_env(
        &spec.process.env,
        &user,
        &spec.effective_hostname(),
        spec.process.tty,
    );
    let cwd = spec.process.cwd.as_deref().unwrap_or("/");
    // Resolve symlinks ourselves (inside the new root) so a dangling link such as
    // `/wd -> ../../host/dir` becomes a directory in the container, as Docker does.
    let resolved = Path::new("/").join(
        crate::securejoin::resolve_in_root(Path::new("/"), cwd)
            .map_err(|e| SetupError::Invalid(format!("working directory: {e}")))?,
    );
    std::fs::create_dir_all(&resolved).ctx(|| format!("creating working directory {cwd:?}"))?;
    nix::unistd::chdir(&resolved).ctx(|| format!("chdir to working directory {cwd:?}"))?;
    apply_rlimits(&spec.limits.rlimits)?;
    // Only 0, 1 and 2 survive the exec (the control socket is already close-on-exec).
    // SAFETY: plain syscall on our own descriptor table.
    if unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    } < 0
    {
        return Err(Errno::last()).ctx(|| "close_range(3.., CLOEXEC)".into());
    }
    protocol::send(ctl, &FromHelper::MountpointsCreated { paths: created })
        .ctx(|| "reporting created mountpoints".into())?;
    if spec.no_new_privileges {
        nix::sys::prctl::set_no_new_privs().ctx(|| "setting no_new_privs".into())?;
    }
    // Loaded while CAP_SYS_ADMIN is still held, so no_new_privs is not required for it; the
    // profile allows every call made below.
    // Privileged containers run unfiltered, as Docker's.
    if spec.seccomp == SeccompMode::Default && !spec.privileged {
        match &cfg.seccomp_program {
            Some(program) => crate::seccomp::load_program(program)?,
            // A caller that did not compile it (an older one): build it here.
            None => crate::seccomp::load_default()?,
        }
    }
    drop_privileges(&user, &kept_caps(spec)?)?;
    if spec.init {
        super::init::become_init(ctl)?;
    }
    reset_signals();
    exec(&spec.process.args, &env)
}

/// Give the container's process default signal handling. Ignored signals stay ignored across
/// execve, and Rust starts every program with SIGPIPE ignored: inherited, `yes | head` in a
/// container would spin forever on EPIPE instead of dying of SIGPIPE.
fn reset_signals() {
    for sig in 1..libc::SIGRTMIN() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: resetting a disposition to SIG_DFL in this single-threaded process, which
        // is about to exec; an invalid number only fails with EINVAL.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    // SAFETY: an empty set unblocks everything; the call cannot fail with valid arguments.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

fn build_env(given: &[String], user: &ResolvedUser, hostname: &str, tty: bool) -> Vec<String> {
    let mut env: Vec<String> = given.to_vec();
    let has = |env: &[String], key: &str| {
        env.iter()
            .any(|e| e.split_once('=').is_some_and(|(k, _)| k == key))
    };
    if !has(&env, "PATH") {
        env.push(format!("PATH={DEFAULT_PATH}"));
    }
    if !has(&env, "HOSTNAME") {
        env.push(format!("HOSTNAME={hostname}"));
    }
    if !has(&env, "HOME") {
        env.push(format!("HOME={}", user.home));
    }
    if tty && !has(&env, "TERM") {
        env.push("TERM=xterm".to_string());
    }
    env
}

fn apply_rlimits(limits: &[crate::spec::Rlimit]) -> Result<(), SetupError> {
    for l in limits {
        let name = l.kind.oci_name();
        if l.soft > l.hard {
            return Err(SetupError::Invalid(format!(
                "{name}: soft limit {} is above hard limit {}",
                l.soft, l.hard
            )));
        }
        let (_, host_hard) =
            nix::sys::resource::getrlimit(l.kind.resource()).ctx(|| format!("getrlimit {name}"))?;
        if l.hard > host_hard {
            return Err(SetupError::Invalid(format!(
                "{name}: hard limit {} is above the host's hard limit {host_hard}, which kiln cannot raise (no CAP_SYS_RESOURCE); ask for at most {host_hard}",
                l.hard
            )));
        }
        nix::sys::resource::setrlimit(l.kind.resource(), l.soft, l.hard)
            .ctx(|| format!("setrlimit {name} {}:{}", l.soft, l.hard))?;
    }
    Ok(())
}

/// The capabilities the process keeps: all when privileged, the spec's list, or Docker's
/// default set.
fn kept_caps(spec: &crate::spec::ContainerSpec) -> Result<CapsHashSet, SetupError> {
    if spec.privileged {
        // Everything this process holds (all a root kiln may give).
        return caps::read(None, CapSet::Permitted)
            .map_err(caps_err("reading the permitted capabilities"));
    }
    let names: Vec<&str> = match &spec.capabilities {
        Some(list) => list.iter().map(String::as_str).collect(),
        None => DEFAULT_CAPABILITIES.to_vec(),
    };
    names
        .into_iter()
        .map(|name| {
            Capability::from_str(name)
                .map_err(|e| SetupError::Invalid(format!("capability {name}: {e}")))
        })
        .collect()
}

fn caps_err(what: &'static str) -> impl FnOnce(caps::errors::CapsError) -> SetupError {
    move |e| SetupError::Invalid(format!("{what}: {e}"))
}

/// Bounding set first (needs CAP_SETPCAP), then the ids (keeping capabilities across
/// setuid), then the permitted/effective sets; inheritable and ambient end up empty.
fn drop_privileges(user: &ResolvedUser, keep: &CapsHashSet) -> Result<(), SetupError> {
    let keep = keep.clone();
    for cap in caps::all() {
        if !keep.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap)
                .map_err(caps_err("dropping a bounding capability"))?;
        }
    }
    nix::sys::prctl::set_keepcaps(true).ctx(|| "PR_SET_KEEPCAPS".into())?;
    let groups: Vec<nix::unistd::Gid> = user
        .additional_gids
        .iter()
        .map(|g| nix::unistd::Gid::from_raw(*g))
        .collect();
    nix::unistd::setgroups(&groups).ctx(|| format!("setgroups {:?}", user.additional_gids))?;
    let gid = nix::unistd::Gid::from_raw(user.gid);
    nix::unistd::setresgid(gid, gid, gid).ctx(|| format!("setgid {}", user.gid))?;
    let uid = nix::unistd::Uid::from_raw(user.uid);
    nix::unistd::setresuid(uid, uid, uid).ctx(|| format!("setuid {}", user.uid))?;
    nix::sys::prctl::set_keepcaps(false).ctx(|| "clearing PR_SET_KEEPCAPS".into())?;
    caps::clear(None, CapSet::Inheritable)
        .map_err(caps_err("clearing inheritable capabilities"))?;
    // Effective must stay a subset of permitted at every step: shrink it first.
    caps::set(None, CapSet::Effective, &keep)
        .map_err(caps_err("setting effective capabilities"))?;
    caps::set(None, CapSet::Permitted, &keep)
        .map_err(caps_err("setting permitted capabilities"))?;
    caps::clear(None, CapSet::Ambient).map_err(caps_err("clearing ambient capabilities"))?;
    Ok(())
}

fn cstrings(items: &[String], what: &str) -> Result<Vec<CString>, SetupError> {
    items
        .iter()
        .map(|s| {
            CString::new(s.as_bytes())
                .map_err(|_| SetupError::Invalid(format!("{what} {s:?} contains a NUL byte")))
        })
        .collect()
}

/// execve with Docker's lookup: a name without `/` is searched in the container's PATH.
fn exec(args: &[String], env: &[String]) -> Result<Infallible, SetupError> {
    let Some(prog) = args.first() else {
        return Err(SetupError::Invalid("no command given (empty args)".into()));
    };
    let argv = cstrings(args, "argument")?;
    let envp = cstrings(env, "environment entry")?;
    let candidates: Vec<String> = if prog.contains('/') {
        vec![prog.clone()]
    } else {
        let path = env
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH);
        path.split(':')
            .map(|dir| if dir.is_empty() { "." } else { dir })
            .map(|dir| format!("{dir}/{prog}"))
            .collect()
    };
    let mut denied: Option<(String, Errno)> = None;
    for candidate in &candidates {
        let c = CString::new(candidate.as_bytes()).map_err(|_| {
            SetupError::Invalid(format!("command {candidate:?} contains a NUL byte"))
        })?;
        let e = match nix::unistd::execve(&c, &argv, &envp) {
            Ok(never) => match never {},
            Err(e) => e,
        };
        match e {
            Errno::ENOENT | Errno::ENOTDIR => continue,
            Errno::EACCES | Errno::EPERM | Errno::ENOEXEC | Errno::EISDIR => {
                denied.get_or_insert((candidate.clone(), e));
            }
            other => {
                return Err(SetupError::Exec {
                    kind: SetupFailure::Other,
                    path: candidate.clone(),
                    message: other.desc().to_string(),
                })
            }
        }
    }
    Err(match denied {
        Some((path, e)) => SetupError::Exec {
            kind: SetupFailure::NotExecutable,
            path,
            message: format!("{}: permission denied or not an executable", e.desc()),
        },
        None if prog.contains('/') => SetupError::Exec {
            kind: SetupFailure::NotFound,
            path: prog.clone(),
            message: "no such file or directory".into(),
        },
        None => SetupError::Exec {
            kind: SetupFailure::NotFound,
            path: prog.clone(),
            message: "executable file not found in $PATH".into(),
        },
    })
}
