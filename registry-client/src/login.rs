//! Checking credentials against a registry, as `docker login` does: `GET /v2/` answered with
//! the registry's own auth scheme (a token for no particular repository, or Basic).

use reqwest::{Method, StatusCode};

use crate::client::RegistryClient;
use crate::error::RegistryError;
use crate::reference::Repository;
use crate::request::Target;

impl RegistryClient {
    /// `Ok(())` when the registry accepts this client's credential for `registry`.
    pub async fn check_login(&self, registry: &str) -> Result<(), RegistryError> {
        // No repository: the API root is what a login is checked against.
        let repo = Repository::new(registry, "");
        let url = format!("{}/v2/", self.base_url(&repo));
        let resp = self.request(&repo, &[], Method::GET, &url, &|r| r).await?;
        match resp.status() {
            StatusCode::OK => Ok(()),
            _ => Err(self
                .unexpected(&repo, &Method::GET, &url, Target::Upload, resp)
                .await),
        }
    }
}
