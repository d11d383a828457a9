//! Registry credentials in a `~/.docker/config.json`-compatible file, so `docker login` and
//! `kiln login` share logins: `auths` entries, `credHelpers` per registry, `credsStore` default.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{Map, Value};

use crate::credhelper::{Helper, HelperError, HelperRecord, IDENTITY_TOKEN_USER};
use crate::reference::DOCKER_HUB;

/// The key Docker files Docker Hub logins under.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("cannot read Docker config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write Docker config {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Docker config {path} is not valid JSON: {source}; fix or remove the file")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "Docker config {path}: the `auth` entry for {registry} is not base64 of `user:password`"
    )]
    BadAuthEntry { path: PathBuf, registry: String },
    #[error(transparent)]
    Helper(#[from] HelperError),
}

#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    Basic {
        username: String,
        password: String,
    },
    /// An OAuth2 refresh token (Docker's `identitytoken`), exchanged at the token endpoint.
    IdentityToken(String),
}

impl fmt::Debug for Credential {
    // Never print secrets, even in debug logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Credential::IdentityToken(_) => write!(f, "IdentityToken(***)"),
        }
    }
}

/// Where a credential came from, for error messages that say what was tried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialSource {
    Anonymous,
    Explicit,
    ConfigFile(PathBuf),
    Helper(String),
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::Anonymous => write!(f, "no credentials (anonymous)"),
            CredentialSource::Explicit => write!(f, "credentials given on the command line"),
            CredentialSource::ConfigFile(p) => write!(f, "credentials from {}", p.display()),
            CredentialSource::Helper(p) => write!(f, "credential helper {p}"),
        }
    }
}

/// A Docker-compatible config file and the helpers it names.
#[derive(Clone, Debug)]
pub struct CredentialStore {
    path: PathBuf,
    helper_dir: Option<PathBuf>,
}

impl CredentialStore {
    /// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`, as Docker resolves it.
    pub fn from_env() -> Self {
        let dir = match std::env::var_os("DOCKER_CONFIG") {
            Some(d) => PathBuf::from(d),
            None => std::env::var_os("HOME")
                .map_or_else(|| PathBuf::from("/root"), PathBuf::from)
                .join(".docker"),
        };
        Self::at(dir.join("config.json"))
    }

    pub fn at(config_file: impl Into<PathBuf>) -> Self {
        CredentialStore {
            path: config_file.into(),
            helper_dir: None,
        }
    }

    /// Look helpers up in `dir` instead of `PATH`.
    pub fn with_helper_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.helper_dir = Some(dir.into());
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn get(
        &self,
        registry: &str,
    ) -> Result<Option<(Credential, CredentialSource)>, CredentialError> {
        let config = self.load()?;
        if let Some(helper) = self.helper_for(&config, registry) {
            let source = CredentialSource::Helper(helper.program());
            return Ok(helper
                .get(&server_key(registry))?
                .map(|r| (record_to_credential(r), source)));
        }
        let Some(auths) = config.get("auths").and_then(Value::as_object) else {
            return Ok(None);
        };
        let Some(entry) = auths
            .iter()
            .find(|(k, _)| normalise_key(k) == normalise_key(registry))
            .map(|(_, v)| v)
        else {
            return Ok(None);
        };
        let source = CredentialSource::ConfigFile(self.path.clone());
        if let Some(token) = entry
            .get("identitytoken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            return Ok(Some((Credential::IdentityToken(token.to_string()), source)));
        }
        let bad = || CredentialError::BadAuthEntry {
            path: self.path.clone(),
            registry: registry.to_string(),
        };
        let Some(auth) = entry
            .get("auth")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
        else {
            return Ok(None);
        };
        let decoded = B64.decode(auth.trim()).map_err(|_| bad())?;
        let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
        let (username, password) = decoded.split_once(':').ok_or_else(bad)?;
        let cred = Credential::Basic {
            username: username.to_string(),
            password: password.to_string(),
        };
        Ok(Some((cred, source)))
    }

    /// Save a login: through the configured helper when there is one, else into `auths`.
    pub fn store(
        &self,
        registry: &str,
        credential: &Credential,
    ) -> Result<CredentialSource, CredentialError> {
        let mut config = self.load()?;
        if let Some(helper) = self.helper_for(&config, registry) {
            let (username, secret) = match credential {
                Credential::Basic { username, password } => (username.clone(), password.clone()),
                Credential::IdentityToken(t) => (IDENTITY_TOKEN_USER.to_string(), t.clone()),
            };
            helper.store(&HelperRecord {
                server_url: server_key(registry),
                username,
                secret,
            })?;
            return Ok(CredentialSource::Helper(helper.program()));
        }
        let mut entry = Map::new();
        match credential {
            Credential::Basic { username, password } => {
                entry.insert(
                    "auth".into(),
                    Value::String(B64.encode(format!("{username}:{password}"))),
                );
            }
            Credential::IdentityToken(t) => {
                entry.insert("identitytoken".into(), Value::String(t.clone()));
            }
        }
        let mut auths = take_auths(&mut config);
        auths.retain(|k, _| normalise_key(k) != normalise_key(registry));
        auths.insert(server_key(registry), Value::Object(entry));
        config.insert("auths".into(), Value::Object(auths));
        self.save(&config)?;
        Ok(CredentialSource::ConfigFile(self.path.clone()))
    }

    /// Forget a login; `Ok(false)` when there was none in the file (helpers cannot tell).
    pub fn erase(&self, registry: &str) -> Result<bool, CredentialError> {
        let mut config = self.load()?;
        if let Some(helper) = self.helper_for(&config, registry) {
            helper.erase(&server_key(registry))?;
            return Ok(true);
        }
        let mut auths = take_auths(&mut config);
        let before = auths.len();
        auths.retain(|k, _| normalise_key(k) != normalise_key(registry));
        let removed = auths.len() != before;
        config.insert("auths".into(), Value::Object(auths));
        if removed {
            self.save(&config)?;
        }
        Ok(removed)
    }

    fn helper_for(&self, config: &Map<String, Value>, registry: &str) -> Option<Helper> {
        let per_registry = config
            .get("credHelpers")
            .and_then(Value::as_object)
            .and_then(|m| {
                m.iter()
                    .find(|(k, _)| normalise_key(k) == normalise_key(registry))
                    .and_then(|(_, v)| v.as_str())
            });
        let name = per_registry.or_else(|| config.get("credsStore").and_then(Value::as_str));
        name.filter(|n| !n.is_empty())
            .map(|n| Helper::new(n, self.helper_dir.as_deref()))
    }

    fn load(&self) -> Result<Map<String, Value>, CredentialError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
            Err(source) => {
                return Err(CredentialError::Read {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        serde_json::from_slice(&bytes).map_err(|source| CredentialError::Parse {
            path: self.path.clone(),
            source,
        })
    }

    /// Write beside the file and rename, so a crash never leaves half a config (and its
    /// other settings) behind; mode 0600 because it may hold passwords.
    fn save(&self, config: &Map<String, Value>) -> Result<(), CredentialError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let write_err = |source| CredentialError::Write {
            path: self.path.clone(),
            source,
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(write_err)?;
        let tmp = dir.join(format!(".config.json.{}.tmp", std::process::id()));
        let body =
            serde_json::to_vec_pretty(config).map_err(|e| write_err(std::io::Error::other(e)))?;
        let result = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(write_err)
    }
}

fn take_auths(config: &mut Map<String, Value>) -> Map<String, Value> {
    match config.remove("auths") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

fn record_to_credential(r: HelperRecord) -> Credential {
    if r.username == IDENTITY_TOKEN_USER {
        Credential::IdentityToken(r.secret)
    } else {
        Credential::Basic {
            username: r.username,
            password: r.secret,
        }
    }
}

/// The key Docker uses for a registry in `auths` and helpers.
fn server_key(registry: &str) -> String {
    if normalise_key(registry) == DOCKER_HUB {
        DOCKER_HUB_KEY.to_string()
    } else {
        registry.to_string()
    }
}

/// `https://index.docker.io/v1/`, `index.docker.io` and `docker.io` are one registry; keys may
/// carry a scheme and path.
fn normalise_key(key: &str) -> String {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = key.split('/').next().unwrap_or(key);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => DOCKER_HUB.to_string(),
        h => h.to_string(),
    }
}
