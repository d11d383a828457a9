//! OOM notification through a v1 memory cgroup's eventfd.

use std::os::fd::{AsRawFd, OwnedFd};

/// An eventfd the kernel signals when the cgroup runs out of memory.
#[derive(Debug)]
pub struct OomListener {
    pub(super) efd: OwnedFd,
    pub(super) _control: std::fs::File,
}

impl OomListener {
    /// Whether an OOM happened since registration.
    pub fn fired(&self) -> bool {
        let mut buf = [0u8; 8];
        // SAFETY: reading 8 bytes into our own buffer from our own eventfd.
        let n = unsafe { libc::read(self.efd.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
        n == 8 && u64::from_ne_bytes(buf) > 0
    }
}
