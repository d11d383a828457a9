//! `--init`: a tiny pid 1 that starts the user's process as its child, forwards signals to
//! it, reaps every zombie and exits with the child's status (128 + signal when killed).
//! It runs unprivileged, under the seccomp filter, and non-dumpable so no container
//! process can open /proc/1/exe (which is kiln's binary on the host).

use super::{Context, SetupError};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use std::os::fd::{AsRawFd, BorrowedFd};

/// Forks: the child returns `Ok(())` (and goes on to exec the process); the parent becomes
/// the init and never returns.
pub(super) fn become_init(ctl: BorrowedFd<'_>) -> Result<(), SetupError> {
    nix::sys::prctl::set_dumpable(false).ctx(|| "PR_SET_DUMPABLE 0".into())?;
    // Blocked before the fork so no signal meant for the child is lost in between.
    let all = SigSet::all();
    let mut old = SigSet::empty();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&all), Some(&mut old))
        .ctx(|| "blocking signals in init".into())?;
    // SAFETY: this process is single-threaded.
    match unsafe { fork() }.ctx(|| "forking the process under init".into())? {
        ForkResult::Child => {
            nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None)
                .ctx(|| "restoring the signal mask".into())?;
            Ok(())
        }
        ForkResult::Parent { child } => {
            // The child reports its own exec errors; init needs no control socket.
            let _ = nix::unistd::close(ctl.as_raw_fd());
            let code = supervise(child, &all);
            // SAFETY: ending pid 1 without unwinding; the kernel kills the rest.
            unsafe { libc::_exit(code) }
        }
    }
}

fn supervise(child: Pid, signals: &SigSet) -> i32 {
    loop {
        let sig = match signals.wait() {
            Ok(sig) => sig,
            Err(_) => continue,
        };
        if sig != Signal::SIGCHLD {
            let _ = nix::sys::signal::kill(child, sig);
            continue;
        }
        // Reap everything that has exited: our child and any re-parented orphan.
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == child => return code,
                Ok(WaitStatus::Signaled(pid, sig, _)) if pid == child => return 128 + sig as i32,
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    }
}
