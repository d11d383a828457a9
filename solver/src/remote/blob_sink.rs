//! A registry download streaming into the store, hashed once: the registry client verifies
//! digest and size while the bytes pass, so the store writes them without hashing again
//! (a [`PrehashedWriter`]). Serves `kiln pull` and the remote cache's lazy layer import.
//!
//! Commit only after `RegistryClient::fetch_blob` returned `Ok` (that is the
//! verification); dropping the sink instead discards the partial file.

use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};

use kiln_cache::content::{BlobInfo, ContentError, ContentStore};
use kiln_cache::prehashed::PrehashedWriter;
use kiln_cache::Digest;

/// Progress callback: bytes written so far.
pub type OnBytes<'a> = &'a (dyn Fn(u64) + Send + Sync);

/// The store's blob writer is synchronous; its writes go to a 1 MiB buffer and a local
/// file, short enough to do inline on the runtime's worker.
pub struct BlobSink<'a> {
    inner: PrehashedWriter,
    on_bytes: Option<OnBytes<'a>>,
}

impl<'a> BlobSink<'a> {
    /// A sink into `content`; `on_bytes` hears the running byte count after each write.
    pub fn new(
        content: &ContentStore,
        on_bytes: Option<OnBytes<'a>>,
    ) -> Result<Self, ContentError> {
        Ok(BlobSink {
            inner: content.prehashed_writer()?,
            on_bytes,
        })
    }

    /// Store the bytes as `digest` (which the client verified them against); the size is
    /// checked once more against what was written.
    pub fn commit_verified(self, digest: &Digest, size: u64) -> Result<BlobInfo, ContentError> {
        self.inner.commit_verified(digest, size)
    }
}

impl tokio::io::AsyncWrite for BlobSink<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let n = this.inner.write(buf);
        if let (Ok(_), Some(report)) = (&n, this.on_bytes) {
            report(this.inner.written());
        }
        Poll::Ready(n)
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(self.get_mut().inner.flush())
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(self.get_mut().inner.flush())
    }
}
