//! Image references are the store's type (`kiln_cache::Reference`, normalised as Docker does);
//! this adds what the protocol needs: the repository a scope is granted on, the host its API
//! answers on, and the path segment that names a manifest.

use std::fmt;

pub use kiln_cache::reference::{Reference, ReferenceError, DEFAULT_REGISTRY as DOCKER_HUB};

/// Docker Hub's API does not answer on the name references use.
const DOCKER_HUB_API: &str = "registry-1.docker.io";
const DEFAULT_TAG: &str = "latest";

/// A repository on one registry: the unit registry permissions (scopes) are granted on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Repository {
    /// The registry as users name it (`docker.io`, `localhost:5000`).
    pub registry: String,
    /// The path inside the registry (`library/busybox`).
    pub name: String,
}

impl Repository {
    pub fn new(registry: &str, name: &str) -> Self {
        Repository {
            registry: registry.to_string(),
            name: name.to_string(),
        }
    }

    /// The host[:port] the registry API is served on.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.name)
    }
}

impl From<&Reference> for Repository {
    fn from(r: &Reference) -> Self {
        Repository {
            registry: r.registry.clone(),
            name: r.repository.clone(),
        }
    }
}

/// Protocol views of a reference.
pub trait ReferenceExt {
    fn repo(&self) -> Repository;
    /// What goes after `/manifests/`: the digest when pinned, else the tag.
    fn manifest_ref(&self) -> String;
}

impl ReferenceExt for Reference {
    fn repo(&self) -> Repository {
        Repository::from(self)
    }

    fn manifest_ref(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => DEFAULT_TAG.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_and_manifest_path() {
        let r = Reference::parse("busybox").expect("parse");
        assert_eq!(r.repo(), Repository::new("docker.io", "library/busybox"));
        assert_eq!(r.repo().api_host(), "registry-1.docker.io");
        assert_eq!(r.manifest_ref(), "latest");
        let d = format!("sha256:{}", "a".repeat(64));
        let pinned = Reference::parse(&format!("127.0.0.1:5000/app:v1@{d}")).expect("parse");
        assert_eq!(pinned.manifest_ref(), d);
        assert_eq!(pinned.repo().api_host(), "127.0.0.1:5000");
    }
}
