//! Manifest and index documents (OCI and Docker schema 2) as the registry serves them, and
//! choosing the image for one platform out of an index / manifest list. The documents are the
//! store's types (`kiln_cache::image::spec`), so what is pulled is what the store reads; they
//! keep fields they do not name, and digests are always checked over the bytes received, never
//! over a re-serialisation.

use serde::Deserialize;

pub use kiln_cache::image::spec::media::{
    DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_LIST as DOCKER_MANIFEST_LIST, DOCKER_MANIFEST,
    OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_LAYER_TAR, OCI_LAYER_ZSTD, OCI_MANIFEST,
};
pub use kiln_cache::image::spec::{
    Descriptor, Index as ImageIndex, Manifest as ImageManifest, Platform,
};

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

/// What the protocol needs of a platform: reading `--platform`, and matching index entries.
pub trait PlatformExt: Sized {
    /// Parse `os/arch[/variant]`, applying the usual aliases (`arm64` defaults to `v8`).
    fn parse(input: &str) -> Result<Self, ManifestError>;
    fn linux_amd64() -> Self;
    /// Whether an index entry's platform serves this one. A missing variant on arm64 entries
    /// means v8, as in containerd's matcher.
    fn matches(&self, entry: &Platform) -> bool;
}

impl PlatformExt for Platform {
    fn parse(input: &str) -> Result<Self, ManifestError> {
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
            extra: Default::default(),
        })
    }

    fn linux_amd64() -> Self {
        Platform {
            architecture: "amd64".into(),
            os: "linux".into(),
            variant: None,
            extra: Default::default(),
        }
    }

    fn matches(&self, entry: &Platform) -> bool {
        let norm = |p: &Platform| match (p.architecture.as_str(), p.variant.as_deref()) {
            ("arm64", None) => Some("v8".to_string()),
            (_, v) => v.map(str::to_string),
        };
        let variant_ok = match (norm(self), norm(entry)) {
            (Some(a), Some(b)) => a == b,
            (None, _) => true,
            (Some(_), None) => false,
        };
        self.os == entry.os && self.architecture == entry.architecture && variant_ok
    }
}

/// A manifest document: an image manifest, or an index of them.
#[derive(Clone, Debug, PartialEq)]
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

/// The entry of `index` for `wanted`; attestation entries (`unknown/unknown`) never match.
pub fn select_platform<'a>(
    index: &'a ImageIndex,
    wanted: &Platform,
) -> Result<&'a Descriptor, ManifestError> {
    index
        .manifests
        .iter()
        .find(|d| d.platform.as_ref().is_some_and(|p| wanted.matches(p)))
        .ok_or_else(|| {
            let offered: Vec<String> = index
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;

    fn entry(os: &str, arch: &str, variant: Option<&str>, n: u8) -> Descriptor {
        let mut d = Descriptor::new(OCI_MANIFEST, Digest::of_bytes(&[n]), 10);
        d.platform = Some(Platform {
            architecture: arch.into(),
            os: os.into(),
            variant: variant.map(str::to_string),
            extra: Default::default(),
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
            annotations: Default::default(),
            extra: Default::default(),
        }
    }

    #[test]
    fn selects_platforms() {
        let idx = index();
        let pick = |p: &str| {
            Platform::parse(p).and_then(|p| select_platform(&idx, &p).map(|d| d.digest.clone()))
        };
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
    fn fields_kiln_does_not_name_survive_parsing() {
        let d = Digest::of_bytes(b"x");
        let doc = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/x-kiln-test",
            "config": {"mediaType": OCI_CONFIG, "digest": d.to_string(), "size": 1},
            "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": d.to_string(), "size": 1,
                        "urls": ["https://example.com/l"]}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": d.to_string(), "size": 2,
                        "platform": {"os": "windows", "architecture": "amd64",
                                     "os.version": "10.0.17763"}},
        });
        let bytes = serde_json::to_vec(&doc).unwrap_or_default();
        let Ok(Manifest::Image(m)) = Manifest::parse(OCI_MANIFEST, &bytes) else {
            panic!("not parsed as an image manifest");
        };
        assert_eq!(m.layers[0].size, 1);
        assert_eq!(serde_json::to_value(&*m).ok(), Some(doc));
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
