//! The docker-credential-helper protocol: `docker-credential-<name> get|store|erase`, the server
//! URL or a JSON record on stdin, JSON on stdout. This is how `credsStore`/`credHelpers` in a
//! Docker config keep secrets in a keychain instead of the file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

/// The username a helper returns when the secret is an identity (refresh) token.
pub const IDENTITY_TOKEN_USER: &str = "<token>";

#[derive(Debug, thiserror::Error)]
pub enum HelperError {
    #[error("cannot run credential helper {program}: {source}; install it or remove it from the Docker config")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("credential helper {program} {action} failed ({status}): {message}")]
    Failed {
        program: String,
        action: &'static str,
        status: String,
        message: String,
    },
    #[error("credential helper {program} returned malformed JSON for {action}: {source}")]
    BadOutput {
        program: String,
        action: &'static str,
        source: serde_json::Error,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelperRecord {
    #[serde(rename = "ServerURL", default)]
    pub server_url: String,
    #[serde(rename = "Username")]
    pub username: String,
    #[serde(rename = "Secret")]
    pub secret: String,
}

/// One helper program, found in `dir` when given (tests) or on `PATH`.
pub struct Helper {
    program: PathBuf,
}

impl Helper {
    pub fn new(name: &str, dir: Option<&Path>) -> Self {
        let file = format!("docker-credential-{name}");
        let program = match dir {
            Some(d) => d.join(file),
            None => PathBuf::from(file),
        };
        Helper { program }
    }

    pub fn program(&self) -> String {
        self.program.display().to_string()
    }

    /// `Ok(None)` when the helper has nothing for this server.
    pub fn get(&self, server_url: &str) -> Result<Option<HelperRecord>, HelperError> {
        match self.call("get", server_url.as_bytes()) {
            Ok(out) => {
                let record =
                    serde_json::from_slice(&out).map_err(|source| HelperError::BadOutput {
                        program: self.program(),
                        action: "get",
                        source,
                    })?;
                Ok(Some(record))
            }
            Err(HelperError::Failed { message, .. })
                if message.contains("credentials not found") =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    pub fn store(&self, record: &HelperRecord) -> Result<(), HelperError> {
        let input = serde_json::to_vec(record).map_err(|source| HelperError::BadOutput {
            program: self.program(),
            action: "store",
            source,
        })?;
        self.call("store", &input).map(|_| ())
    }

    pub fn erase(&self, server_url: &str) -> Result<(), HelperError> {
        match self.call("erase", server_url.as_bytes()) {
            Err(HelperError::Failed { message, .. })
                if message.contains("credentials not found") =>
            {
                Ok(())
            }
            other => other.map(|_| ()),
        }
    }

    fn call(&self, action: &'static str, input: &[u8]) -> Result<Vec<u8>, HelperError> {
        let spawn_err = |source| HelperError::Spawn {
            program: self.program(),
            source,
        };
        let mut child = Command::new(&self.program)
            .arg(action)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_err)?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input).map_err(spawn_err)?;
        }
        let out = child.wait_with_output().map_err(spawn_err)?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        // Helpers report errors on stdout (the protocol) or stderr (crashes); keep both.
        let message = format!(
            "{} {}",
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Err(HelperError::Failed {
            program: self.program(),
            action,
            status: out.status.to_string(),
            message: message.trim().to_string(),
        })
    }
}
