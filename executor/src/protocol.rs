//! The typed message protocol between the caller (kiln) and the re-executed helper: one
//! SOCK_SEQPACKET socket pair, one JSON message per packet, in both directions.

use crate::spec::ContainerSpec;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::PathBuf;

/// Largest packet either side accepts; a spec is a few KiB.
const MAX_PACKET: usize = 1 << 20;

/// What the helper needs besides the spec: paths the caller prepared on the host.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct HelperConfig {
    pub spec: ContainerSpec,
    /// Empty directory the rootfs is mounted on before pivot_root.
    pub rootfs_mountpoint: PathBuf,
    /// Host files bound read-only over container paths (`/etc/hosts`, ...): (dest, source).
    pub etc_files: Vec<(String, PathBuf)>,
    /// Files the container's init writes "0" to, before anything else, to join its
    /// cgroups ([`crate::cgroups::Cgroups::join_files`]: v1 `tasks`, v2 `cgroup.procs`).
    pub cgroup_procs: Vec<PathBuf>,
    /// The default seccomp filter as BPF, compiled once by the caller
    /// ([`crate::seccomp::default_program`]); `None` when the container runs unfiltered.
    #[serde(default)]
    pub seccomp_program: Option<Vec<u8>>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToHelper {
    Config(Box<HelperConfig>),
    /// Send this signal to the container's init (SIGKILL kills the whole pid namespace).
    Signal(i32),
}

/// Why setup failed, so the caller can map it to Docker's exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetupFailure {
    /// The command was not found (Docker: 127).
    NotFound,
    /// The command exists but cannot be executed (Docker: 126).
    NotExecutable,
    /// Anything else (Docker: 125).
    Other,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum FromHelper {
    /// The container's init exists; `pid` is its id in the caller's pid namespace.
    Started {
        pid: i32,
    },
    SetupFailed {
        kind: SetupFailure,
        message: String,
    },
    /// Mountpoints the setup created inside the rootfs (container paths), to be removed
    /// from the upper dir afterwards so they do not end up in the layer.
    MountpointsCreated {
        paths: Vec<String>,
    },
    Exited {
        code: i32,
    },
    Signaled {
        signal: i32,
    },
}

pub(crate) fn send<T: Serialize>(fd: BorrowedFd<'_>, msg: &T) -> io::Result<()> {
    let bytes = serde_json::to_vec(msg).map_err(io::Error::other)?;
    // MSG_NOSIGNAL: a vanished peer is an error to report, not a SIGPIPE.
    let n = unsafe {
        libc::send(
            fd.as_raw_fd(),
            bytes.as_ptr().cast(),
            bytes.len(),
            libc::MSG_NOSIGNAL,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n as usize != bytes.len() {
        return Err(io::Error::other("short write on the helper control socket"));
    }
    Ok(())
}

/// Receives one message; `Ok(None)` when the peer closed its end.
pub(crate) fn recv<T: DeserializeOwned>(fd: BorrowedFd<'_>) -> io::Result<Option<T>> {
    let mut buf = vec![0u8; MAX_PACKET];
    loop {
        let n = unsafe {
            libc::recv(
                fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_TRUNC,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        let n = n as usize;
        if n == 0 {
            return Ok(None);
        }
        if n > buf.len() {
            return Err(io::Error::other(format!(
                "control message of {n} bytes exceeds the {MAX_PACKET}-byte limit"
            )));
        }
        return serde_json::from_slice(&buf[..n])
            .map(Some)
            .map_err(io::Error::other);
    }
}
