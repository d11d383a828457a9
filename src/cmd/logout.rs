//! `kiln logout [SERVER]`: forget the saved login for a registry (default: Docker Hub).

use clap::Args;
use kiln_registry::CredentialStore;

use super::login::normalise_server;
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Registry to log out from (default: Docker Hub)
    pub server: Option<String>,
}

pub fn run(_global: &GlobalArgs, args: LogoutArgs) -> anyhow::Result<i32> {
    let server = normalise_server(args.server.as_deref());
    if CredentialStore::from_env().erase(&server)? {
        println!("Removing login credentials for {server}");
    } else {
        println!("Not logged in to {server}");
    }
    Ok(0)
}
