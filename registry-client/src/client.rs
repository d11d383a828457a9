//! The registry client: its configuration, per-host HTTP clients and credential lookup.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::auth::{Challenge, TokenCache};
use crate::credentials::{Credential, CredentialSource, CredentialStore};
use crate::error::RegistryError;
use crate::progress::{Progress, ProgressFn};
use crate::reference::Repository;
use crate::transport::TransportConfig;

#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub transport: TransportConfig,
    /// Where logins are looked up; `None` means anonymous unless `with_credential` is used.
    pub credentials: Option<CredentialStore>,
    /// Blobs transferred at once by `fetch_blobs` / `push_blobs`.
    pub max_parallel: usize,
    /// Blobs up to this size go in one PUT; larger ones in PATCH chunks of `chunk_size`.
    pub monolithic_limit: u64,
    pub chunk_size: usize,
    /// How often one blob download may resume with `Range` after the stream breaks.
    pub max_resumes: u32,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            transport: TransportConfig::default(),
            credentials: Some(CredentialStore::from_env()),
            max_parallel: 4,
            monolithic_limit: 32 << 20,
            chunk_size: 16 << 20,
            max_resumes: 5,
        }
    }
}

/// Cheap to clone; clones share connections, tokens and credentials.
#[derive(Clone)]
pub struct RegistryClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: ClientConfig,
    pub(crate) http: Mutex<HashMap<String, reqwest::Client>>,
    pub(crate) explicit: Mutex<HashMap<String, Credential>>,
    pub(crate) looked_up: Mutex<HashMap<String, Option<(Credential, CredentialSource)>>>,
    pub(crate) challenges: Mutex<HashMap<String, Challenge>>,
    pub(crate) tokens: TokenCache,
    pub(crate) progress: Option<ProgressFn>,
}

impl RegistryClient {
    pub fn new(config: ClientConfig) -> Self {
        Self::build(config, None)
    }

    /// Report per-blob transfer progress to `f` (a CLI draws bars or prints lines from it).
    pub fn with_progress(
        config: ClientConfig,
        f: impl Fn(&Progress) + Send + Sync + 'static,
    ) -> Self {
        Self::build(config, Some(Arc::new(f)))
    }

    fn build(config: ClientConfig, progress: Option<ProgressFn>) -> Self {
        RegistryClient {
            inner: Arc::new(Inner {
                config,
                http: Mutex::default(),
                explicit: Mutex::default(),
                looked_up: Mutex::default(),
                challenges: Mutex::default(),
                tokens: TokenCache::default(),
                progress,
            }),
        }
    }

    /// Use this credential for `registry` instead of the credential store (e.g. `kiln login`).
    pub fn set_credential(&self, registry: &str, credential: Credential) {
        lock(&self.inner.explicit).insert(registry.to_string(), credential);
        lock(&self.inner.looked_up).remove(registry);
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    pub(crate) fn report(&self, p: Progress) {
        if let Some(f) = &self.inner.progress {
            f(&p);
        }
    }

    pub(crate) fn base_url(&self, repo: &Repository) -> String {
        self.inner.config.transport.base_url(repo.api_host())
    }

    pub(crate) fn http(&self, host: &str) -> Result<reqwest::Client, RegistryError> {
        if let Some(c) = lock(&self.inner.http).get(host) {
            return Ok(c.clone());
        }
        let client = self.inner.config.transport.client_for(host)?;
        lock(&self.inner.http).insert(host.to_string(), client.clone());
        Ok(client)
    }

    pub(crate) async fn credential(
        &self,
        registry: &str,
    ) -> Result<Option<(Credential, CredentialSource)>, RegistryError> {
        if let Some(c) = lock(&self.inner.explicit).get(registry) {
            return Ok(Some((c.clone(), CredentialSource::Explicit)));
        }
        if let Some(found) = lock(&self.inner.looked_up).get(registry) {
            return Ok(found.clone());
        }
        let Some(store) = self.inner.config.credentials.clone() else {
            return Ok(None);
        };
        let reg = registry.to_string();
        // Credential helpers are processes; keep them off the async workers.
        let found = tokio::task::spawn_blocking(move || store.get(&reg))
            .await
            .map_err(|e| RegistryError::Protocol {
                registry: registry.to_string(),
                detail: format!("credential lookup task failed: {e}"),
            })??;
        lock(&self.inner.looked_up).insert(registry.to_string(), found.clone());
        Ok(found)
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere cannot leave these maps logically broken; keep going.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn pull_scope(repo: &Repository) -> String {
    format!("repository:{}:pull", repo.name)
}

pub(crate) fn push_scope(repo: &Repository) -> String {
    format!("repository:{}:pull,push", repo.name)
}
