//! Platforms: the host's, parsing `--platform` values with containerd's normalisation
//! (`x86_64` -> `amd64`, `aarch64` -> `arm64`, `arm` -> `arm/v7`), and the predefined
//! platform ARGs BuildKit gives every build.
//!
//! API: [`host_platform`], [`parse_platform`], [`format_platform`], [`predefined_args`],
//! [`PlatformError`].

use crate::graph::Platform;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    #[error(
        "invalid platform {0:?}: expected os/arch[/variant], e.g. linux/amd64 or linux/arm/v7"
    )]
    Invalid(String),
}

const KNOWN_OS: [&str; 12] = [
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "illumos",
    "ios",
    "js",
    "linux",
    "netbsd",
    "openbsd",
    "windows",
];

/// The platform kiln runs on, as an OCI platform.
pub fn host_platform() -> Platform {
    let (arch, variant) = normalize_arch(std::env::consts::ARCH, "");
    Platform::new(
        "linux",
        &arch,
        (!variant.is_empty()).then_some(variant.as_str()),
    )
}

/// containerd's architecture normalisation.
fn normalize_arch(arch: &str, variant: &str) -> (String, String) {
    let arch = arch.to_ascii_lowercase();
    let variant = variant.to_ascii_lowercase();
    match arch.as_str() {
        "i386" | "386" | "x86" => ("386".into(), String::new()),
        "x86_64" | "x86-64" | "amd64" => {
            let v = if variant == "v1" {
                String::new()
            } else {
                variant
            };
            ("amd64".into(), v)
        }
        "aarch64" | "arm64" => {
            let v = if variant == "8" || variant == "v8" {
                String::new()
            } else {
                variant
            };
            ("arm64".into(), v)
        }
        "armhf" => ("arm".into(), "v7".into()),
        "armel" => ("arm".into(), "v6".into()),
        "arm" => {
            let v = match variant.as_str() {
                "" | "7" => "v7".to_string(),
                "5" | "6" | "8" => format!("v{variant}"),
                _ => variant,
            };
            ("arm".into(), v)
        }
        _ => (arch, variant),
    }
}

/// Parses `os/arch[/variant]`, `os` or `arch` as containerd's `platforms.Parse` does.
pub fn parse_platform(text: &str) -> Result<Platform, PlatformError> {
    let invalid = || PlatformError::Invalid(text.to_string());
    let parts: Vec<&str> = text.split('/').collect();
    let valid_part = |p: &&str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if parts.len() > 3 || !parts.iter().all(valid_part) {
        return Err(invalid());
    }
    let host = host_platform();
    let (os, arch, variant) = match parts.as_slice() {
        [one] => {
            let lower = one.to_ascii_lowercase();
            if KNOWN_OS.contains(&lower.as_str()) {
                let (a, v) = if lower == host.os {
                    (
                        host.architecture.clone(),
                        host.variant.clone().unwrap_or_default(),
                    )
                } else {
                    normalize_arch(std::env::consts::ARCH, "")
                };
                (lower, a, v)
            } else {
                let (a, v) = normalize_arch(one, "");
                ("linux".to_string(), a, v)
            }
        }
        [os, arch] => {
            let (a, v) = normalize_arch(arch, "");
            (os.to_ascii_lowercase(), a, v)
        }
        [os, arch, variant] => {
            let (a, v) = normalize_arch(arch, variant);
            (os.to_ascii_lowercase(), a, v)
        }
        _ => return Err(invalid()),
    };
    if os == "macos" {
        return Ok(Platform::new(
            "darwin",
            &arch,
            (!variant.is_empty()).then_some(variant.as_str()),
        ));
    }
    Ok(Platform::new(
        &os,
        &arch,
        (!variant.is_empty()).then_some(variant.as_str()),
    ))
}

/// `os/arch[/variant]`.
pub fn format_platform(p: &Platform) -> String {
    p.to_string()
}

/// The ARGs every build has, before any `--build-arg` (BuildKit's `defaultArgs`).
pub fn predefined_args(
    build: &Platform,
    target: &Platform,
    target_stage: &str,
) -> Vec<(String, String)> {
    let stage = if target_stage.is_empty() {
        "default"
    } else {
        target_stage
    };
    [
        ("BUILDPLATFORM", format_platform(build)),
        ("BUILDOS", build.os.clone()),
        ("BUILDOSVERSION", String::new()),
        ("BUILDARCH", build.architecture.clone()),
        ("BUILDVARIANT", build.variant.clone().unwrap_or_default()),
        ("TARGETPLATFORM", format_platform(target)),
        ("TARGETOS", target.os.clone()),
        ("TARGETOSVERSION", String::new()),
        ("TARGETARCH", target.architecture.clone()),
        ("TARGETVARIANT", target.variant.clone().unwrap_or_default()),
        ("TARGETSTAGE", stage.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises() {
        for (input, want) in [
            ("linux/amd64", "linux/amd64"),
            ("linux/x86_64", "linux/amd64"),
            ("linux/aarch64", "linux/arm64"),
            ("linux/arm64/v8", "linux/arm64"),
            ("linux/arm", "linux/arm/v7"),
            ("Linux/ARM/v6", "linux/arm/v6"),
            ("arm64", "linux/arm64"),
        ] {
            assert_eq!(parse_platform(input).unwrap().to_string(), want, "{input}");
        }
        for bad in ["", "linux/", "a/b/c/d", "linux amd64", "$X"] {
            assert!(parse_platform(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn predefined_args_describe_both_platforms() {
        let b = Platform::new("linux", "amd64", None);
        let t = Platform::new("linux", "arm", Some("v7"));
        let args = predefined_args(&b, &t, "");
        let get = |k: &str| args.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("BUILDPLATFORM"), Some("linux/amd64"));
        assert_eq!(get("TARGETPLATFORM"), Some("linux/arm/v7"));
        assert_eq!(get("TARGETVARIANT"), Some("v7"));
        assert_eq!(get("TARGETSTAGE"), Some("default"));
    }
}
