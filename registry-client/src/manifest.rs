//! Manifest and index documents (OCI and Docker schema 2), their media types, and choosing the
//! image for one platform out of an index / manifest list.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// Every manifest kind kiln understands, for the `Accept` header of a manifest request.
pub const ACCEPTED_MANIFEST_TYPES: [&str; 4] = [
    OCI_INDEX,
    DOCKER_MANIFEST_LIST,
    OCI_MANIFEST,
    DOCKER_MANIFEST,
];

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error(
        "unsupported manifest media type {media_type:?}: kiln reads OCI image manifests/indexes and \
         Docker schema 2 manifests/lists (schema 1 images must be re-pushed with a current tool)"
    )]
    UnsupportedMediaType { media_type: String },
    #[error("malformed {media_type} document: {source}")]
    Malformed {
        media_type: String,
        source: serde_json::Error,
    },
    #[error("invalid platform {input:?}: expected os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8")]
    BadPlatform { input: String },
    #[error("no image for platform {wanted} in the index; it offers: {available}")]
    NoMatchingPlatform { wanted: Platform, available: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Self {
        Descriptor {
            media_type: media_type.to_string(),
            digest,
            size,
            urls: Vec::new(),
            annotations: BTreeMap::new(),
            platform: None,
            artifact_type: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(
        default,
        rename = "os.version",
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
}

impl Platform {
    /// Parse `os/arch[/variant]`, applying the usual aliases (`arm64` defaults to `v8`).
    pub fn parse(input: &str) -> Result<Self, ManifestError> {
        let parts: Vec<&str> = input.split('/').collect();
        let bad = || ManifestError::BadPlatform {
            input: input.to_string(),
        };
        let (os, arch, variant) = match parts.as_slice() {
            [os, arch] => (*os, *arch, None),
            [os, arch, variant] => (*os, *arch, Some(variant.to_string())),
            _ => return Err(bad()),
        };
        if os.is_empty() || arch.is_empty() || variant.as_deref() == Some("") {
            return Err(bad());
        }
        let variant = match (arch, variant) {
            ("arm64", None) => Some("v8".to_string()),
            (_, v) => v,
        };
        Ok(Platform {
            architecture: arch.to_string(),
            os: os.to_string(),
            variant,
            os_version: None,
        })
    }

    pub fn linux_amd64() -> Self {
        Platform {
            architecture: "amd64".into(),
            os: "linux".into(),
            variant: None,
            os_version: None,
        }
    }

    /// Whether an index entry's platform serves this one. A missing variant on arm64 entries
    /// means v8, as in containerd's matcher.
    pub fn matches(&self, other: &Platform) -> bool {
        let norm = |p: &Platform| match (p.architecture.as_str(), p.variant.as_deref()) {
            ("arm64", None) => Some("v8".to_string()),
            (_, v) => v.map(str::to_string),
        };
        let variant_ok = match (norm(self), norm(other)) {
            (Some(a), Some(b)) => a == b,
            (None, _) => true,
            (Some(_), None) => false,
        };
        self.os == other.os && self.architecture == other.architecture && variant_ok
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Manifest {
    Image(Box<ImageManifest>),
    Index(ImageIndex),
}

impl Manifest {
    /// Parse by the media type the registry sent, falling back to the document's own
    /// `mediaType` field when the header is generic (some registries send `application/json`).
    pub fn parse(content_type: &str, bytes: &[u8]) -> Result<Self, ManifestError> {
        let mut media_type = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        if !ACCEPTED_MANIFEST_TYPES.contains(&media_type.as_str()) {
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Sniff {
                media_type: Option<String>,
            }
            if let Ok(Sniff {
                media_type: Some(inner),
            }) = serde_json::from_slice::<Sniff>(bytes)
            {
                media_type = inner;
            }
        }
        let malformed = |source| ManifestError::Malformed {
            media_type: media_type.clone(),
            source,
        };
        match media_type.as_str() {
            OCI_MANIFEST | DOCKER_MANIFEST => Ok(Manifest::Image(Box::new(
                serde_json::from_slice(bytes).map_err(malformed)?,
            ))),
            OCI_INDEX | DOCKER_MANIFEST_LIST => Ok(Manifest::Index(
                serde_json::from_slice(bytes).map_err(malformed)?,
            )),
            _ => Err(ManifestError::UnsupportedMediaType { media_type }),
        }
    }
}

impl ImageIndex {
    /// The manifest for `wanted`; attestation entries (`unknown/unknown`) never match.
    pub fn select(&self, wanted: &Platform) -> Result<&Descriptor, ManifestError> {
        self.manifests
            .iter()
            .find(|d| d.platform.as_ref().is_some_and(|p| wanted.matches(p)))
            .ok_or_else(|| {
                let offered: Vec<String> = self
                    .manifests
                    .iter()
                    .filter_map(|d| d.platform.as_ref().map(|p| p.to_string()))
                    .collect();
                let available = if offered.is_empty() {
                    "no platforms".to_string()
                } else {
                    offered.join(", ")
                };
                ManifestError::NoMatchingPlatform {
                    wanted: wanted.clone(),
                    available,
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(os: &str, arch: &str, variant: Option<&str>, n: u8) -> Descriptor {
        let mut d = Descriptor::new(OCI_MANIFEST, Digest::of_bytes(&[n]), 10);
        d.platform = Some(Platform {
            architecture: arch.into(),
            os: os.into(),
            variant: variant.map(str::to_string),
            os_version: None,
        });
        d
    }

    fn index() -> ImageIndex {
        ImageIndex {
            schema_version: 2,
            media_type: Some(OCI_INDEX.into()),
            manifests: vec![
                entry("unknown", "unknown", None, 0),
                entry("linux", "arm", Some("v7"), 1),
                entry("linux", "arm64", None, 2),
                entry("linux", "amd64", None, 3),
            ],
            annotations: BTreeMap::new(),
        }
    }

    #[test]
    fn selects_platforms() {
        let idx = index();
        let pick =
            |p: &str| Platform::parse(p).and_then(|p| idx.select(&p).map(|d| d.digest.clone()));
        assert_eq!(pick("linux/amd64").ok(), Some(Digest::of_bytes(&[3])));
        assert_eq!(pick("linux/arm64").ok(), Some(Digest::of_bytes(&[2])));
        assert_eq!(pick("linux/arm64/v8").ok(), Some(Digest::of_bytes(&[2])));
        assert_eq!(pick("linux/arm/v7").ok(), Some(Digest::of_bytes(&[1])));
        let err = pick("linux/s390x")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("linux/arm/v7") && err.contains("linux/s390x"),
            "{err}"
        );
    }

    #[test]
    fn rejects_bad_platforms() {
        assert!(Platform::parse("linux").is_err());
        assert!(Platform::parse("linux//").is_err());
        assert!(Platform::parse("a/b/c/d").is_err());
    }

    #[test]
    fn parses_by_header_or_body_media_type() {
        let idx = serde_json::to_vec(&index()).unwrap_or_default();
        assert!(matches!(
            Manifest::parse(OCI_INDEX, &idx),
            Ok(Manifest::Index(_))
        ));
        assert!(matches!(
            Manifest::parse("application/json", &idx),
            Ok(Manifest::Index(_))
        ));
        let v1 = br#"{"schemaVersion":1,"name":"x"}"#;
        let err = Manifest::parse(
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
            v1,
        );
        assert!(matches!(
            err,
            Err(ManifestError::UnsupportedMediaType { .. })
        ));
        assert!(matches!(
            Manifest::parse(OCI_MANIFEST, b"{}"),
            Err(ManifestError::Malformed { .. })
        ));
    }
}
