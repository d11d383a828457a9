//! `RUN --mount=type=ssh`: a unix socket in the step's directory that forwards every
//! connection to the client's SSH agent. The step sees a socket with the mount's mode and
//! owner, never the agent's own socket (whose permissions are the user's), and the
//! forwarding stops when the step ends.
//!
//! API: [`SshForward::start`].

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum SshForwardError {
    #[error("ssh agent {id:?}: {what} {path}: {source}")]
    Io {
        id: String,
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("ssh agent {id:?}: forwarding needs the build's async runtime: {message}")]
    NoRuntime { id: String, message: String },
}

/// A listening socket forwarding to an agent; stops accepting (and drops open
/// connections) on drop.
#[derive(Debug)]
pub struct SshForward {
    socket: PathBuf,
    task: JoinHandle<()>,
}

impl SshForward {
    /// Listen at `socket` (mode/uid/gid applied) and forward each connection to `agent`.
    pub fn start(
        id: &str,
        agent: &Path,
        socket: &Path,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> Result<SshForward, SshForwardError> {
        let io = |what, path: &Path| {
            let id = id.to_string();
            let path = path.to_path_buf();
            move |source| SshForwardError::Io {
                id,
                what,
                path,
                source,
            }
        };
        // Fail now, with the agent's path, rather than in the step's ssh client later.
        std::os::unix::net::UnixStream::connect(agent).map_err(io("connecting to", agent))?;
        let handle =
            tokio::runtime::Handle::try_current().map_err(|e| SshForwardError::NoRuntime {
                id: id.to_string(),
                message: e.to_string(),
            })?;
        let listener = {
            let _enter = handle.enter();
            UnixListener::bind(socket).map_err(io("listening on", socket))?
        };
        std::os::unix::fs::chown(socket, Some(uid), Some(gid)).map_err(io("chown", socket))?;
        std::fs::set_permissions(socket, std::fs::Permissions::from_mode(mode & 0o7777))
            .map_err(io("chmod", socket))?;
        let agent = agent.to_path_buf();
        let task = handle.spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let (mut client, _) = match listener.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!("ssh forwarding: accepting a connection: {e}");
                        continue;
                    }
                };
                let agent = agent.clone();
                conns.spawn(async move {
                    match UnixStream::connect(&agent).await {
                        Ok(mut upstream) => {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                        }
                        Err(e) => {
                            tracing::warn!("ssh forwarding: connecting to {}: {e}", agent.display())
                        }
                    }
                });
                // Reap finished connections so a long step does not collect them.
                while conns.try_join_next().is_some() {}
            }
        });
        Ok(SshForward {
            socket: socket.to_path_buf(),
            task,
        })
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

impl Drop for SshForward {
    fn drop(&mut self) {
        // Aborting the accept loop drops the JoinSet, which aborts open connections.
        self.task.abort();
        let _ = std::fs::remove_file(&self.socket);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn forwards_bytes_both_ways_with_the_given_mode() {
        let d = tempfile::tempdir().unwrap();
        let agent_path = d.path().join("agent.sock");
        let agent = UnixListener::bind(&agent_path).unwrap();
        // Echoes 5 bytes per connection (start() probes the agent with one that sends
        // nothing).
        let echo = tokio::spawn(async move {
            loop {
                let (mut s, _) = agent.accept().await.unwrap();
                let mut buf = [0u8; 5];
                if s.read_exact(&mut buf).await.is_ok() {
                    s.write_all(&buf).await.unwrap();
                    return;
                }
            }
        });
        let sock = d.path().join("fwd.sock");
        let fwd = SshForward::start("default", &agent_path, &sock, 0o600, 0, 0).unwrap();
        let mode = std::fs::metadata(&sock).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let mut c = UnixStream::connect(fwd.socket()).await.unwrap();
        c.write_all(b"hello").await.unwrap();
        let mut back = [0u8; 5];
        c.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"hello");
        echo.await.unwrap();
        drop(fwd);
        assert!(!sock.exists());
    }

    #[tokio::test]
    async fn a_dead_agent_is_an_error_naming_it() {
        let d = tempfile::tempdir().unwrap();
        let e = SshForward::start(
            "k",
            &d.path().join("none"),
            &d.path().join("s"),
            0o600,
            0,
            0,
        )
        .unwrap_err();
        assert!(e.to_string().contains("none"), "{e}");
    }
}
