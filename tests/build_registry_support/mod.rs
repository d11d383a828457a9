//! Registry helpers for the build tests (pull during build, `--push`, registry caches):
//! the shared `docker-registry` fixture (tests/registry_support) and what skopeo, as an
//! independent reader, says the registry serves.
#![allow(dead_code)]

use std::process::Command;

#[path = "../registry_support/mod.rs"]
mod shared;
pub use shared::Registry;

/// The manifest of `name` as the registry serves it (skopeo, independent of kiln).
pub fn remote_manifest(name: &str) -> Option<serde_json::Value> {
    let out = Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            "--raw",
            &format!("docker://{name}"),
        ])
        .output()
        .expect("run skopeo");
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// The manifest digest of image `name` as the registry serves it (skopeo).
pub fn remote_digest(name: &str) -> Option<String> {
    let out = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", &format!("docker://{name}")])
        .output()
        .expect("run skopeo");
    if !out.status.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v["Digest"].as_str().map(str::to_string)
}
