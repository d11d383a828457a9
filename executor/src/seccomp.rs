//! kiln's default seccomp profile: the syscalls Docker's default profile refuses to a
//! container with the default capabilities (mounting, namespaces, kernel modules, kexec,
//! bpf, clock and key management, …) fail with EPERM; clone3 fails with ENOSYS so libc
//! falls back to clone, whose namespace flags are filtered. Unlike Docker's allow-list this
//! is a deny-list (default allow), which keeps new harmless syscalls working.

use libseccomp::{ScmpAction, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("building the seccomp filter ({step}): {source}")]
    Build {
        step: String,
        #[source]
        source: libseccomp::error::SeccompError,
    },
}

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

#[cfg(test)]
mod tests {
    #[test]
    fn default_filter_builds() {
        super::default_filter().unwrap();
    }
}
