//! `request`, which every protocol operation goes through: authentication (answering 401
//! challenges with tokens or Basic credentials), retries with backoff, and turning unexpected
//! responses into specific errors.

use reqwest::header::{HeaderMap, AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use tracing::{debug, warn};

use crate::auth::{parse_challenge, Challenge};
use crate::client::{lock, RegistryClient};
use crate::credentials::{Credential, CredentialSource};
use crate::error::{AuthFailure, RegistryError};
use crate::reference::Repository;
use crate::transport::RetryPolicy;

/// Registry error documents: `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"..."}]}`.
#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// What a failed request was about, so a 404 or 401 can name the right thing.
pub(crate) enum Target<'a> {
    Manifest(&'a str),
    Blob(&'a crate::digest::Digest),
    Upload,
}

impl RegistryClient {
    /// Send a request to `repo`'s registry with the right Authorization for `scopes`
    /// (`repository:<name>:<actions>` strings), retrying transient failures and answering one
    /// 401 challenge. Returns any response that is not 401/403; the caller judges the status.
    pub(crate) async fn request(
        &self,
        repo: &Repository,
        scopes: &[String],
        method: Method,
        url: &str,
        build: &(dyn Fn(RequestBuilder) -> RequestBuilder + Send + Sync),
    ) -> Result<Response, RegistryError> {
        let host = repo.api_host();
        let http = self.http(host)?;
        let mut scope = scopes.join(" ");
        let mut auth = self.authorization(repo, &http, &scope, None).await?;
        for round in 0..2 {
            let resp = self
                .send_with_retry(repo, &method, url, || {
                    let req = build(http.request(method.clone(), url));
                    match &auth {
                        Some((value, _)) => req.header(AUTHORIZATION, value),
                        None => req,
                    }
                })
                .await?;
            let status = resp.status();
            if status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN {
                return Ok(resp);
            }
            let challenge = resp
                .headers()
                .get_all(WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(|v| parse_challenge(v).ok().flatten());
            let source_used = auth
                .as_ref()
                .map_or(CredentialSource::Anonymous, |(_, s)| s.clone());
            let detail = error_detail(resp).await;
            // Names the scope as first asked, before a challenge widens it.
            let failure = Box::new(AuthFailure {
                registry: repo.registry.clone(),
                repository: repo.name.clone(),
                scope: scope.clone(),
                source_used,
                detail,
            });
            if status == StatusCode::FORBIDDEN {
                return Err(RegistryError::Denied(failure));
            }
            match challenge {
                Some(c) if round == 0 => {
                    debug!(registry = %repo.registry, ?c, "registry asked for authentication");
                    lock(&self.inner.challenges).insert(host.to_string(), c.clone());
                    if auth.is_some() {
                        // The registry no longer takes the token we had cached (revoked or
                        // expired early): fetch a new one rather than resend it.
                        self.inner.tokens.forget(host, &scope);
                    }
                    if let Challenge::Bearer {
                        scope: Some(wanted),
                        ..
                    } = &c
                    {
                        // Registries may name a scope we did not think of; ask for it too.
                        let resource = |s: &str| {
                            s.rsplit_once(':')
                                .map_or(s.to_string(), |(r, _)| r.to_string())
                        };
                        for s in wanted.split(' ').filter(|s| !s.is_empty()) {
                            // Same resource with other actions: ours already cover what we need.
                            if !scope.split(' ').any(|have| resource(have) == resource(s)) {
                                scope = format!("{scope} {s}").trim().to_string();
                            }
                        }
                    }
                    auth = self.authorization(repo, &http, &scope, Some(c)).await?;
                    if auth.is_none() {
                        return Err(RegistryError::Unauthorized(failure));
                    }
                }
                _ => return Err(RegistryError::Unauthorized(failure)),
            }
        }
        Err(RegistryError::Protocol {
            registry: repo.registry.clone(),
            detail: format!("{method} {url} kept asking for authentication"),
        })
    }

    /// The Authorization value for a request: from the host's known challenge (or `fresh`), a
    /// cached or newly fetched Bearer token, or Basic credentials.
    async fn authorization(
        &self,
        repo: &Repository,
        http: &reqwest::Client,
        scope: &str,
        fresh: Option<Challenge>,
    ) -> Result<Option<(String, CredentialSource)>, RegistryError> {
        let host = repo.api_host();
        let Some(challenge) = fresh.or_else(|| lock(&self.inner.challenges).get(host).cloned())
        else {
            return Ok(None);
        };
        let cred = self.credential(&repo.registry).await?;
        let source = cred
            .as_ref()
            .map_or(CredentialSource::Anonymous, |(_, s)| s.clone());
        match challenge {
            Challenge::Basic { .. } => Ok(match cred {
                Some((Credential::Basic { username, password }, src)) => {
                    use base64::Engine as _;
                    let raw = format!("{username}:{password}");
                    Some((
                        format!(
                            "Basic {}",
                            base64::engine::general_purpose::STANDARD.encode(raw)
                        ),
                        src,
                    ))
                }
                _ => None,
            }),
            Challenge::Bearer { realm, service, .. } => {
                if let Some(t) = self.inner.tokens.get(host, scope) {
                    return Ok(Some((format!("Bearer {t}"), source)));
                }
                let credential = cred.as_ref().map(|(c, _)| c);
                let token = self
                    .inner
                    .tokens
                    .fetch(http, host, &realm, service.as_deref(), scope, credential)
                    .await
                    .map_err(|e| match e {
                        crate::auth::AuthError::TokenRejected {
                            status: 401 | 403,
                            body,
                            ..
                        } => RegistryError::Unauthorized(Box::new(AuthFailure {
                            registry: repo.registry.clone(),
                            repository: repo.name.clone(),
                            scope: scope.to_string(),
                            source_used: source.clone(),
                            detail: format!("token server {realm} refused: {body}"),
                        })),
                        source => RegistryError::Auth {
                            registry: repo.registry.clone(),
                            repository: repo.name.clone(),
                            source: Box::new(source),
                        },
                    })?;
                Ok(Some((format!("Bearer {token}"), source)))
            }
        }
    }

    async fn send_with_retry(
        &self,
        repo: &Repository,
        method: &Method,
        url: &str,
        make: impl Fn() -> RequestBuilder,
    ) -> Result<Response, RegistryError> {
        let policy: &RetryPolicy = &self.inner.config.transport.retry;
        let max = policy.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match make().send().await {
                Ok(resp) if RetryPolicy::retryable_status(resp.status()) => {
                    let status = resp.status();
                    if attempt >= max {
                        let detail = error_detail(resp).await;
                        return Err(RegistryError::Unavailable {
                            registry: repo.registry.clone(),
                            method: method.to_string(),
                            url: url.to_string(),
                            status: status.as_u16(),
                            attempts: attempt,
                            detail,
                        });
                    }
                    let wait = retry_after(resp.headers())
                        .unwrap_or_else(|| policy.backoff(attempt - 1))
                        .min(policy.max_backoff);
                    warn!(registry = %repo.registry, %method, url, %status, ?wait, "transient registry error, retrying");
                    tokio::time::sleep(wait).await;
                }
                Ok(resp) => return Ok(resp),
                Err(e)
                    if attempt < max
                        && (e.is_connect() || e.is_timeout() || e.is_request() || e.is_body())
                        && !unknown_host(&e) =>
                {
                    let wait = policy.backoff(attempt - 1);
                    warn!(registry = %repo.registry, %method, url, error = %e, ?wait, "connection failed, retrying");
                    tokio::time::sleep(wait).await;
                }
                Err(source) => {
                    return Err(RegistryError::Unreachable {
                        registry: repo.registry.clone(),
                        url: url.to_string(),
                        attempts: attempt,
                        source,
                    });
                }
            }
        }
    }

    /// Turn an unexpected response into the most specific error for what was requested.
    pub(crate) async fn unexpected(
        &self,
        repo: &Repository,
        method: &Method,
        url: &str,
        target: Target<'_>,
        resp: Response,
    ) -> RegistryError {
        let status = resp.status();
        let body = resp.bytes().await.unwrap_or_default();
        let parsed: ErrorBody = serde_json::from_slice(&body).unwrap_or_default();
        let codes: Vec<&str> = parsed.errors.iter().map(|e| e.code.as_str()).collect();
        let (registry, repository) = (repo.registry.clone(), repo.name.clone());
        if status == StatusCode::NOT_FOUND {
            if codes.contains(&"NAME_UNKNOWN") {
                return RegistryError::RepositoryUnknown {
                    registry,
                    repository,
                };
            }
            match target {
                Target::Manifest(r) => {
                    return RegistryError::ManifestUnknown {
                        registry,
                        repository,
                        reference: r.to_string(),
                    }
                }
                Target::Blob(d) => {
                    return RegistryError::BlobUnknown {
                        registry,
                        repository,
                        digest: d.clone(),
                    }
                }
                Target::Upload => {}
            }
        }
        let detail = if parsed.errors.is_empty() {
            String::from_utf8_lossy(&body).chars().take(300).collect()
        } else {
            parsed
                .errors
                .iter()
                .map(|e| format!("{}: {}", e.code, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        };
        RegistryError::Rejected {
            registry,
            method: method.to_string(),
            url: url.to_string(),
            status: status.as_u16(),
            detail,
        }
    }
}

async fn error_detail(resp: Response) -> String {
    let body = resp.bytes().await.unwrap_or_default();
    match serde_json::from_slice::<ErrorBody>(&body) {
        Ok(b) if !b.errors.is_empty() => b
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.code, e.message))
            .collect::<Vec<_>>()
            .join("; "),
        _ => String::from_utf8_lossy(&body).chars().take(300).collect(),
    }
}

fn retry_after(headers: &HeaderMap) -> Option<std::time::Duration> {
    let secs: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(std::time::Duration::from_secs(secs))
}

/// Whether the registry's host name does not resolve at all (getaddrinfo's EAI_NONAME /
/// EAI_NODATA): retrying cannot help, unlike a temporary resolver failure (EAI_AGAIN).
/// The resolver's error reaches us only as text in the error's source chain.
fn unknown_host(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        let text = err.to_string();
        if text.contains("Name or service not known")
            || text.contains("No address associated with hostname")
        {
            return true;
        }
        cur = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::unknown_host;

    #[derive(Debug, thiserror::Error)]
    #[error("dns error")]
    struct Wrapper(#[source] std::io::Error);

    #[test]
    fn only_names_that_do_not_exist_are_final() {
        let gone = Wrapper(std::io::Error::other(
            "failed to lookup address information: Name or service not known",
        ));
        assert!(unknown_host(&gone));
        let flaky = Wrapper(std::io::Error::other(
            "failed to lookup address information: Temporary failure in name resolution",
        ));
        assert!(!unknown_host(&flaky));
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(!unknown_host(&refused));
    }
}
