//! `kiln login [-u USER] [--password-stdin] [SERVER]`: check the credentials with the registry,
//! then save them in the Docker-compatible config (`$DOCKER_CONFIG/config.json`, or through
//! its credential helper), so `docker` and `kiln` share logins.

use std::io::{BufRead, IsTerminal, Read, Write};

use anyhow::{bail, Context};
use clap::Args;
use kiln_registry::{Credential, CredentialStore, RegistryClient};

use super::registry_opts::{runtime, RegistryArgs};
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Registry to log in to (default: Docker Hub)
    pub server: Option<String>,
    /// Username
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password (insecure: it lands in shell history; prefer --password-stdin)
    #[arg(short, long)]
    pub password: Option<String>,
    /// Read the password from stdin
    #[arg(long, conflicts_with = "password")]
    pub password_stdin: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `https://index.docker.io/v1/` and friends are Docker Hub; other servers are host[:port].
pub fn normalise_server(server: Option<&str>) -> String {
    let s = server.unwrap_or("docker.io");
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = s.split('/').next().unwrap_or(s);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "" => "docker.io".to_string(),
        h => h.to_string(),
    }
}

pub fn run(_global: &GlobalArgs, args: LoginArgs) -> anyhow::Result<i32> {
    let server = normalise_server(args.server.as_deref());
    let stdin = std::io::stdin();
    let username = match &args.username {
        Some(u) => u.clone(),
        None if stdin.is_terminal() && !args.password_stdin => {
            eprint!("Username: ");
            std::io::stderr().flush()?;
            let mut line = String::new();
            stdin.lock().read_line(&mut line)?;
            line.trim().to_string()
        }
        None => bail!(
            "give a username with -u when the password comes from stdin or stdin is not a terminal"
        ),
    };
    if username.is_empty() {
        bail!("the username is empty");
    }
    let password = if args.password_stdin {
        let mut p = String::new();
        stdin
            .lock()
            .read_to_string(&mut p)
            .context("reading the password from stdin")?;
        p.trim_end_matches(['\n', '\r']).to_string()
    } else if let Some(p) = &args.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p.clone()
    } else if stdin.is_terminal() {
        rpassword::prompt_password("Password: ").context("reading the password")?
    } else {
        bail!("no password: use --password-stdin or run on a terminal");
    };
    if password.is_empty() {
        bail!("the password is empty");
    }
    let credential = Credential::Basic { username, password };
    // Only the credential being tested, never one already saved.
    let client = RegistryClient::new(kiln_registry::ClientConfig {
        credentials: None,
        ..args.registry.client_config()
    });
    client.set_credential(&server, credential.clone());
    runtime()?.block_on(client.check_login(&server))?;
    let store = CredentialStore::from_env();
    let saved_in = store.store(&server, &credential)?;
    tracing::info!(%server, %saved_in, "login saved");
    println!("Login Succeeded");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::normalise_server;

    #[test]
    fn servers_normalise_like_docker() {
        assert_eq!(normalise_server(None), "docker.io");
        assert_eq!(
            normalise_server(Some("https://index.docker.io/v1/")),
            "docker.io"
        );
        assert_eq!(normalise_server(Some("registry-1.docker.io")), "docker.io");
        assert_eq!(
            normalise_server(Some("http://localhost:5000/v2/")),
            "localhost:5000"
        );
        assert_eq!(normalise_server(Some("ghcr.io")), "ghcr.io");
    }
}
