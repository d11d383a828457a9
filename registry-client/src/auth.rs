//! Registry authentication: parsing `WWW-Authenticate` challenges, the Bearer token flow
//! (anonymous, Basic-authenticated, or OAuth2 refresh token) and a cache that reuses each token
//! until shortly before it expires.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::credentials::Credential;

/// Spec default when the token server does not say how long a token lives.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// Refresh this long before expiry so a token does not lapse mid-request.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("registry sent an unparseable WWW-Authenticate header {header:?}")]
    BadChallenge { header: String },
    #[error("token server {realm} is unreachable: {source}")]
    TokenRequest {
        realm: String,
        source: reqwest::Error,
    },
    #[error("token server {realm} refused the request for scope {scope:?} ({status}): {body}")]
    TokenRejected {
        realm: String,
        scope: String,
        status: u16,
        body: String,
    },
    #[error("token server {realm} sent no usable token: {source}")]
    TokenResponse {
        realm: String,
        source: serde_json::Error,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    Basic {
        realm: String,
    },
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parse one `WWW-Authenticate` value: `Scheme k="v", k2=v2`. Unknown schemes are skipped.
pub fn parse_challenge(header: &str) -> Result<Option<Challenge>, AuthError> {
    let bad = || AuthError::BadChallenge {
        header: header.to_string(),
    };
    let header = header.trim();
    let (scheme, rest) = header
        .split_once(char::is_whitespace)
        .unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("basic") && !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let params = parse_params(rest).ok_or_else(bad)?;
    let get = |k: &str| {
        params
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    if scheme.eq_ignore_ascii_case("basic") {
        return Ok(Some(Challenge::Basic {
            realm: get("realm").unwrap_or_default(),
        }));
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        let realm = get("realm").ok_or_else(bad)?;
        return Ok(Some(Challenge::Bearer {
            realm,
            service: get("service"),
            scope: get("scope"),
        }));
    }
    Ok(None)
}

fn parse_params(mut s: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    loop {
        s = s.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        if s.is_empty() {
            return Some(out);
        }
        let (key, rest) = s.split_once('=')?;
        let key = key.trim().to_string();
        let rest = rest.trim_start();
        let (value, rest) = if let Some(quoted) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next()? {
                    (_, '\\') => value.push(chars.next()?.1),
                    (i, '"') => break i,
                    (_, c) => value.push(c),
                }
            };
            (value, &quoted[end + 1..])
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            (rest[..end].trim().to_string(), &rest[end..])
        };
        out.push((key, value));
        s = rest;
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Clone)]
struct CachedToken {
    token: String,
    refresh_at: Instant,
}

/// Bearer tokens by (registry host, scopes), shared by all requests of one client.
#[derive(Default)]
pub struct TokenCache {
    tokens: Mutex<HashMap<(String, String), CachedToken>>,
    /// Serialises token requests so parallel blob transfers that all meet a 401 at once share
    /// one token instead of each asking the token server.
    fetching: tokio::sync::Mutex<()>,
}

impl TokenCache {
    pub fn get(&self, host: &str, scope: &str) -> Option<String> {
        let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens
            .get(&(host.to_string(), scope.to_string()))
            .filter(|t| Instant::now() < t.refresh_at)
            .map(|t| t.token.clone())
    }

    pub fn forget(&self, host: &str, scope: &str) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens.remove(&(host.to_string(), scope.to_string()));
    }

    fn put(&self, host: &str, scope: &str, token: String, lifetime: Duration) {
        let refresh_at = Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN).max(lifetime / 2);
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens.insert(
            (host.to_string(), scope.to_string()),
            CachedToken { token, refresh_at },
        );
    }

    /// Ask the token server for `scopes` (space-joined) and remember the answer.
    pub async fn fetch(
        &self,
        http: &reqwest::Client,
        host: &str,
        realm: &str,
        service: Option<&str>,
        scopes: &str,
        credential: Option<&Credential>,
    ) -> Result<String, AuthError> {
        let _one_at_a_time = self.fetching.lock().await;
        if let Some(token) = self.get(host, scopes) {
            return Ok(token);
        }
        let request = match credential {
            // OAuth2 refresh-token grant, as Docker does for identity tokens.
            Some(Credential::IdentityToken(refresh)) => {
                let mut form = vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh.as_str()),
                ];
                form.push(("client_id", "kiln"));
                if let Some(s) = service {
                    form.push(("service", s));
                }
                if !scopes.is_empty() {
                    form.push(("scope", scopes));
                }
                http.post(realm).form(&form)
            }
            _ => {
                let mut query: Vec<(&str, &str)> = Vec::new();
                if let Some(s) = service {
                    query.push(("service", s));
                }
                for scope in scopes.split(' ').filter(|s| !s.is_empty()) {
                    query.push(("scope", scope));
                }
                let mut req = http.get(realm).query(&query);
                if let Some(Credential::Basic { username, password }) = credential {
                    req = req
                        .query(&[("account", username)])
                        .basic_auth(username, Some(password));
                }
                req
            }
        };
        let resp = request
            .send()
            .await
            .map_err(|source| AuthError::TokenRequest {
                realm: realm.to_string(),
                source,
            })?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|source| AuthError::TokenRequest {
                realm: realm.to_string(),
                source,
            })?;
        if !status.is_success() {
            return Err(AuthError::TokenRejected {
                realm: realm.to_string(),
                scope: scopes.to_string(),
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body).chars().take(300).collect(),
            });
        }
        let parsed: TokenResponse =
            serde_json::from_slice(&body).map_err(|source| AuthError::TokenResponse {
                realm: realm.to_string(),
                source,
            })?;
        let token = parsed
            .token
            .or(parsed.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| AuthError::TokenResponse {
                realm: realm.to_string(),
                source: serde::de::Error::custom("neither `token` nor `access_token` is set"),
            })?;
        let lifetime = parsed
            .expires_in
            .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
        self.put(host, scopes, token.clone(), lifetime);
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_and_basic() {
        let h = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#;
        assert_eq!(
            parse_challenge(h).ok().flatten(),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull,push".into()),
            })
        );
        let b = parse_challenge(r#"Basic realm="Registry \"Realm\"""#)
            .ok()
            .flatten();
        assert_eq!(
            b,
            Some(Challenge::Basic {
                realm: "Registry \"Realm\"".into()
            })
        );
        assert_eq!(
            parse_challenge("bearer realm=http://x/t, service=svc")
                .ok()
                .flatten()
                .map(|c| match c {
                    Challenge::Bearer { service, .. } => service,
                    Challenge::Basic { .. } => None,
                }),
            Some(Some("svc".to_string()))
        );
        assert!(matches!(parse_challenge("Negotiate abc"), Ok(None)));
        assert!(matches!(
            parse_challenge("Bearer service=\"x\""),
            Err(AuthError::BadChallenge { .. })
        ));
        assert!(matches!(
            parse_challenge("Bearer realm=\"unterminated"),
            Err(AuthError::BadChallenge { .. })
        ));
    }

    #[test]
    fn cached_tokens_expire() {
        let cache = TokenCache::default();
        cache.put("h", "s", "t1".into(), Duration::from_secs(300));
        assert_eq!(cache.get("h", "s"), Some("t1".to_string()));
        assert_eq!(cache.get("h", "other"), None);
        cache.put("h", "s", "t2".into(), Duration::ZERO);
        assert_eq!(cache.get("h", "s"), None);
    }
}
