//! Image archives: `save` writes one tar that both `docker load` (manifest.json, repositories)
//! and OCI tools (oci-layout, index.json, blobs/) read; `load` reads Docker archives, OCI
//! layouts and OCI archives, gzip'd or not; `import` turns a root filesystem tar into an image.

pub mod import;
pub mod load;
pub mod save;

use serde::{Deserialize, Serialize};

/// One entry of a Docker archive's `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DockerArchiveEntry {
    pub config: String,
    #[serde(default)]
    pub repo_tags: Option<Vec<String>>,
    pub layers: Vec<String>,
}

pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
