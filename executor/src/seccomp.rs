//! kiln's default seccomp profile: the syscalls Docker's default profile refuses to a
//! container with the default capabilities (mounting, namespaces, kernel modules, kexec,
//! bpf, clock and key management, …) fail with EPERM; clone3 fails with ENOSYS so libc
//! falls back to clone, whose namespace flags are filtered. Unlike Docker's allow-list this
//! is a deny-list (default allow), which keeps new harmless syscalls working.
//!
//! The filter is compiled once per process into a classic BPF program
//! ([`default_program`]); the native executor ships those bytes to the container helper,
//! which loads them with one `seccomp(2)` call ([`load_program`]) instead of building the
//! filter again for every container.

use libseccomp::{ScmpAction, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
use std::io::{Read, Seek};
use std::os::fd::FromRawFd;
use std::sync::OnceLock;

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("building the seccomp filter ({step}): {source}")]
    Build {
        step: String,
        #[source]
        source: libseccomp::error::SeccompError,
    },
    #[error("exporting the seccomp filter as BPF ({step}): {source}")]
    Export {
        step: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("seccomp program of {len} bytes is not a BPF program (a non-empty multiple of 8 bytes, at most {BPF_MAXINSNS} instructions); the caller and the helper disagree: rebuild kiln")]
    Malformed { len: usize },
    #[error("loading the seccomp program ({instructions} instructions): {source}")]
    Load {
        instructions: usize,
        #[source]
        source: std::io::Error,
    },
}

/// The kernel's limit on a classic BPF program's length.
const BPF_MAXINSNS: usize = 4096;
/// Size of one `struct sock_filter`.
const INSN_SIZE: usize = 8;

/// Syscalls denied outright.
pub const DENIED: &[&str] = &[
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "swapon",
    "swapoff",
    "reboot",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "create_module",
    "bpf",
    "perf_event_open",
    "acct",
    "add_key",
    "keyctl",
    "request_key",
    "lookup_dcookie",
    "open_by_handle_at",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "stime",
    "syslog",
    "quotactl",
    "quotactl_fd",
    "userfaultfd",
    "vm86",
    "vm86old",
    "iopl",
    "ioperm",
    "setns",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    "nfsservctl",
    "get_kernel_syms",
    "query_module",
    "uselib",
    "ustat",
    "sysfs",
    "_sysctl",
];

/// Namespace flags refused to clone and unshare.
const NS_FLAGS: &[u64] = &[
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
    libc::CLONE_NEWCGROUP as u64,
    0x80, // CLONE_NEWTIME
];

fn err(step: impl Into<String>) -> impl FnOnce(libseccomp::error::SeccompError) -> SeccompError {
    let step = step.into();
    move |source| SeccompError::Build { step, source }
}

/// Builds the default filter (not yet loaded).
pub fn default_filter() -> Result<ScmpFilterContext, SeccompError> {
    let mut f = ScmpFilterContext::new_filter(ScmpAction::Allow).map_err(err("new filter"))?;
    // libseccomp would set no_new_privs itself; that is the spec's decision, not ours (the
    // helper loads the filter while it still holds CAP_SYS_ADMIN).
    f.set_ctl_nnp(false)
        .map_err(err("disable implicit no_new_privs"))?;
    let eperm = ScmpAction::Errno(libc::EPERM);
    for name in DENIED {
        // Names this architecture lacks (e.g. vm86 on x86_64) need no rule.
        let Ok(sc) = ScmpSyscall::from_name(name) else {
            continue;
        };
        f.add_rule(eperm, sc).map_err(err(format!("deny {name}")))?;
    }
    for name in ["clone", "unshare"] {
        let sc = ScmpSyscall::from_name(name).map_err(err(format!("look up {name}")))?;
        for flag in NS_FLAGS {
            let cmp = ScmpArgCompare::new(0, ScmpCompareOp::MaskedEqual(*flag), *flag);
            f.add_rule_conditional(eperm, sc, &[cmp])
                .map_err(err(format!("filter {name} flag {flag:#x}")))?;
        }
    }
    let clone3 = ScmpSyscall::from_name("clone3").map_err(err("look up clone3"))?;
    f.add_rule(ScmpAction::Errno(libc::ENOSYS), clone3)
        .map_err(err("clone3 -> ENOSYS"))?;
    Ok(f)
}

/// Builds and loads the default filter into the calling thread.
pub fn load_default() -> Result<(), SeccompError> {
    default_filter()?.load().map_err(err("load"))
}

/// The default filter as a BPF program (native-endian `struct sock_filter`s), built on the
/// first call and reused afterwards: building it costs libseccomp's probing syscalls and
/// its compiler on every container start otherwise.
pub fn default_program() -> Result<&'static [u8], SeccompError> {
    static PROGRAM: OnceLock<Vec<u8>> = OnceLock::new();
    if let Some(p) = PROGRAM.get() {
        return Ok(p);
    }
    let built = export(&default_filter()?)?;
    // A concurrent first call may have won the race; both built the same program.
    Ok(PROGRAM.get_or_init(|| built))
}

fn export(filter: &ScmpFilterContext) -> Result<Vec<u8>, SeccompError> {
    let io = |step| move |source| SeccompError::Export { step, source };
    // SAFETY: plain syscall with a NUL-terminated name; the result is a new fd we own.
    let fd = unsafe { libc::memfd_create(c"kiln-seccomp".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io("memfd_create")(std::io::Error::last_os_error()));
    }
    // SAFETY: fd is a fresh descriptor from the kernel.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    filter
        .export_bpf(&mut file)
        .map_err(|e| io("seccomp_export_bpf")(std::io::Error::other(e)))?;
    file.rewind().map_err(io("rewind"))?;
    let mut out = Vec::new();
    file.read_to_end(&mut out).map_err(io("read back"))?;
    check(&out)?;
    Ok(out)
}

fn check(program: &[u8]) -> Result<usize, SeccompError> {
    let n = program.len() / INSN_SIZE;
    if program.is_empty() || !program.len().is_multiple_of(INSN_SIZE) || n > BPF_MAXINSNS {
        return Err(SeccompError::Malformed { len: program.len() });
    }
    Ok(n)
}

/// Loads a program from [`default_program`] into the calling thread, as libseccomp's own
/// load would with its defaults (no flags: no TSYNC, no logging; no_new_privs is left to
/// the caller, which must hold CAP_SYS_ADMIN otherwise).
pub fn load_program(program: &[u8]) -> Result<(), SeccompError> {
    load_insns(&decode(program)?)
}

fn decode(program: &[u8]) -> Result<Vec<libc::sock_filter>, SeccompError> {
    check(program)?;
    Ok(program
        .chunks_exact(INSN_SIZE)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
}

/// The syscall itself; allocates nothing (callable in a forked child of a threaded process).
fn load_insns(insns: &[libc::sock_filter]) -> Result<(), SeccompError> {
    let prog = libc::sock_fprog {
        // `decode` bounds the length by BPF_MAXINSNS, which fits.
        len: insns.len() as u16,
        filter: insns.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points at `insns`, which outlives the call; the kernel copies it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &prog as *const libc::sock_fprog,
        )
    };
    if rc != 0 {
        return Err(SeccompError::Load {
            instructions: insns.len(),
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn default_filter_builds() {
        super::default_filter().unwrap();
    }

    #[test]
    fn program_is_built_once_and_well_formed() {
        let a = super::default_program().unwrap();
        let b = super::default_program().unwrap();
        assert!(std::ptr::eq(a, b), "the second call rebuilt the program");
        assert!(super::check(a).unwrap() > super::DENIED.len() / 2);
    }

    #[test]
    fn malformed_programs_are_refused_before_the_kernel_sees_them() {
        for bad in [&[][..], &[0u8; 12][..], &vec![0u8; 8 * 4097][..]] {
            assert!(matches!(
                super::load_program(bad),
                Err(super::SeccompError::Malformed { .. })
            ));
        }
    }

    /// In a forked child (the filter is per-thread and stays for the process's life):
    /// the shipped program denies what the profile denies and allows the rest.
    #[test]
    fn loaded_program_denies_namespaces() {
        let insns = super::decode(super::default_program().unwrap()).unwrap();
        // SAFETY: the child only makes raw syscalls (load_insns allocates nothing) and
        // _exits, so the test harness's other threads cannot have left a lock it needs.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
        if pid == 0 {
            let code = match super::load_insns(&insns) {
                Err(_) => 10,
                Ok(()) => {
                    // SAFETY: plain syscalls.
                    let denied = unsafe { libc::unshare(libc::CLONE_NEWUTS) } != 0
                        && std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
                    let allowed = unsafe { libc::getpid() } > 0;
                    if denied && allowed {
                        0
                    } else {
                        11
                    }
                }
            };
            // SAFETY: ends the forked child without running the parent's destructors.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waiting for our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status), "child status {status:#x}");
        assert_eq!(
            libc::WEXITSTATUS(status),
            0,
            "10: load failed, 11: filter not in effect"
        );
    }
}
