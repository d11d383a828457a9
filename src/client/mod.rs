//! The CLI as the daemon's client: whether a command goes to a daemon or runs in-process,
//! and the two ways through the daemon — builds over the typed build API (`build.rs`,
//! sharing the daemon's solver), everything else forwarded as a command (`forward.rs`).
//!
//! A daemon is used when `--host` / `KILN_HOST` names one, or when the default socket
//! answers for the same store as `--root`. In-process commands hold the store's lock, so
//! a daemon and in-process commands never write one store at once.

mod build;
mod build_upload;
mod forward;
mod outputs;
mod terminal;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use kiln_daemon::client::{Client, ClientError};
use kiln_daemon::lock::{InProcessLock, TOKEN_ENV};
use kiln_daemon::tls::TlsFiles;
use kiln_daemon::Host;

use crate::cli::{Cli, Command};
use crate::cmd::system::{SystemArgs, SystemCommand};

/// How long the CLI waits for the default socket's daemon to answer before it works
/// in-process.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Global options that select and secure the daemon connection (Docker's spelling).
#[derive(Debug, Clone, Args)]
pub struct HostArgs {
    /// Daemon address: unix:///path/kiln.sock or tcp://ADDR:PORT (default: the daemon on
    /// /run/kiln/kiln.sock when it serves the same --root; else in-process)
    #[arg(long, global = true, env = "KILN_HOST")]
    pub host: Option<String>,
    /// Mutual TLS for tcp:// (needs --tlscacert, --tlscert, --tlskey)
    #[arg(long, global = true)]
    pub tlsverify: bool,
    /// CA certificate (PEM) that signed the peer's certificate
    #[arg(long, global = true, env = "KILN_TLS_CACERT")]
    pub tlscacert: Option<PathBuf>,
    /// This side's certificate (PEM)
    #[arg(long, global = true, env = "KILN_TLS_CERT")]
    pub tlscert: Option<PathBuf>,
    /// This side's private key (PEM)
    #[arg(long, global = true, env = "KILN_TLS_KEY")]
    pub tlskey: Option<PathBuf>,
}

impl HostArgs {
    /// The TLS files, when `--tlsverify` is given (then all three are required).
    pub fn tls_files(&self) -> anyhow::Result<Option<TlsFiles>> {
        if !self.tlsverify {
            if self.tlscert.is_some() || self.tlskey.is_some() || self.tlscacert.is_some() {
                bail!(
                    "--tlscacert, --tlscert and --tlskey take effect only with --tlsverify; add it"
                );
            }
            return Ok(None);
        }
        match (&self.tlscacert, &self.tlscert, &self.tlskey) {
            (Some(ca), Some(cert), Some(key)) => Ok(Some(TlsFiles {
                ca: ca.clone(),
                cert: cert.clone(),
                key: key.clone(),
            })),
            _ => bail!("--tlsverify needs all of --tlscacert, --tlscert and --tlskey"),
        }
    }
}

/// Where a command runs.
pub enum Route {
    /// It ran through the daemon with this exit code.
    Done(i32),
    /// Run it in-process, holding this lock on the store (if it uses one) until it ends.
    InProcess(Option<InProcessLock>),
}

/// Commands that never touch the store: always in-process, never locked.
fn client_side(c: &Command) -> bool {
    matches!(
        c,
        Command::Version(_)
            | Command::Lint(_)
            | Command::Debug(_)
            | Command::Login(_)
            | Command::Logout(_)
            | Command::Daemon(_)
    )
}

fn absolute(root: &Path) -> PathBuf {
    std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf())
}

pub fn route(cli: &Cli) -> anyhow::Result<Route> {
    if client_side(&cli.command) {
        return Ok(Route::InProcess(None));
    }
    let root = absolute(&cli.global.root);
    // A command the daemon runs on our behalf: in-process on the daemon's store.
    if let Ok(token) = std::env::var(TOKEN_ENV) {
        return Ok(Route::InProcess(Some(InProcessLock::acquire(
            &root,
            Some(&token),
        )?)));
    }
    let default_socket = Path::new(kiln_daemon::host::DEFAULT_SOCKET);
    if cli.global.daemon.host.is_none() && !default_socket.exists() {
        // The common in-process case: no daemon to ask.
        return Ok(Route::InProcess(Some(InProcessLock::acquire(&root, None)?)));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the client runtime")?;
    let tls = cli.global.daemon.tls_files()?;
    let client = match &cli.global.daemon.host {
        Some(h) => Some(Client::new(Host::parse(h)?, tls.as_ref())?),
        None => rt.block_on(default_daemon(&root)),
    };
    match client {
        Some(c) => Ok(Route::Done(through_daemon(&rt, &c, cli)?)),
        None => Ok(Route::InProcess(Some(InProcessLock::acquire(&root, None)?))),
    }
}

/// The default socket's daemon, if it answers and serves `root`.
async fn default_daemon(root: &Path) -> Option<Client> {
    let host = Host::default_socket();
    let Host::Unix(path) = &host else { return None };
    if !path.exists() {
        return None;
    }
    let client = Client::new(host.clone(), None).ok()?;
    match tokio::time::timeout(PROBE_TIMEOUT, client.ping()).await {
        Ok(Ok(p)) if Path::new(&p.root) == root => Some(client),
        Ok(Ok(p)) => {
            tracing::debug!(
                "the daemon on {host} serves {}, not {}; in-process",
                p.root,
                root.display()
            );
            None
        }
        _ => None,
    }
}

fn through_daemon(rt: &tokio::runtime::Runtime, client: &Client, cli: &Cli) -> anyhow::Result<i32> {
    match &cli.command {
        Command::Build(args) if build::typed(args) => build::run(rt, client, args),
        Command::System(SystemArgs {
            command: SystemCommand::Info(a),
        }) => {
            let info: kiln_daemon::api::Info = rt
                .block_on(client.get_json("/v1/info"))
                .map_err(api_error)?;
            crate::cmd::daemon::info::print(&info, true, a.format.as_deref())
        }
        _ => forward::run(rt, client),
    }
}

/// A daemon's error answer as the CLI prints its own errors: message, then causes.
pub(crate) fn api_error(e: ClientError) -> anyhow::Error {
    match e {
        ClientError::Api { body, .. } => {
            let mut causes = body.causes.into_iter().rev();
            let mut err = match causes.next() {
                Some(deepest) => anyhow::anyhow!(deepest),
                None => return anyhow::anyhow!(body.message),
            };
            for c in causes {
                err = err.context(c);
            }
            err.context(body.message)
        }
        other => anyhow::Error::new(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(verify: bool, ca: bool, cert: bool, key: bool) -> HostArgs {
        HostArgs {
            host: None,
            tlsverify: verify,
            tlscacert: ca.then(|| PathBuf::from("ca.pem")),
            tlscert: cert.then(|| PathBuf::from("cert.pem")),
            tlskey: key.then(|| PathBuf::from("key.pem")),
        }
    }

    #[test]
    fn tls_needs_verify_and_all_three_files() {
        assert!(args(false, false, false, false)
            .tls_files()
            .unwrap()
            .is_none());
        let files = args(true, true, true, true).tls_files().unwrap().unwrap();
        assert_eq!(files.key, PathBuf::from("key.pem"));
        assert!(args(true, true, false, true).tls_files().is_err());
        assert!(args(false, true, true, true).tls_files().is_err());
    }

    #[test]
    fn daemon_errors_print_like_local_ones() {
        let e = api_error(ClientError::Api {
            status: hyper::StatusCode::BAD_REQUEST,
            body: kiln_daemon::api::ErrorBody {
                message: "top".into(),
                causes: vec!["middle".into(), "root cause".into()],
            },
        });
        let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
        assert_eq!(chain, vec!["top", "middle", "root cause"]);
    }
}
