//! Small option values the compiler parses after expansion: `--chmod` (octal),
//! `RUN --network`, `RUN --security`.
//!
//! API: [`parse_chmod`], [`NetworkMode`] / [`parse_network`], [`SecurityMode`] /
//! [`parse_security`], [`OptionError`].

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    #[error("invalid chmod {0:?}: expected an octal mode like 755 or 0644 (at most 7777)")]
    Chmod(String),
    #[error("invalid network mode {0:?}: expected one of default, none, host")]
    Network(String),
    #[error("security {0:?} is not valid: expected sandbox or insecure")]
    Security(String),
}

/// An octal file mode (`755`, `0644`, `4755`).
pub fn parse_chmod(s: &str) -> Result<u32, OptionError> {
    u32::from_str_radix(s, 8)
        .ok()
        .filter(|m| *m <= 0o7777 && !s.starts_with('+'))
        .ok_or_else(|| OptionError::Chmod(s.to_string()))
}

/// `RUN --network=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum NetworkMode {
    #[default]
    Default,
    None,
    Host,
}

pub fn parse_network(s: &str) -> Result<NetworkMode, OptionError> {
    match s {
        "default" => Ok(NetworkMode::Default),
        "none" => Ok(NetworkMode::None),
        "host" => Ok(NetworkMode::Host),
        _ => Err(OptionError::Network(s.to_string())),
    }
}

/// `RUN --security=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SecurityMode {
    #[default]
    Sandbox,
    Insecure,
}

pub fn parse_security(s: &str) -> Result<SecurityMode, OptionError> {
    match s {
        "sandbox" => Ok(SecurityMode::Sandbox),
        "insecure" => Ok(SecurityMode::Insecure),
        _ => Err(OptionError::Security(s.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chmod_is_octal() {
        assert_eq!(parse_chmod("755"), Ok(0o755));
        assert_eq!(parse_chmod("0644"), Ok(0o644));
        assert_eq!(parse_chmod("4755"), Ok(0o4755));
        for bad in ["", "8", "u+x", "17777", "+7"] {
            assert!(parse_chmod(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn network_and_security() {
        assert_eq!(parse_network("none"), Ok(NetworkMode::None));
        assert!(parse_network("bridge").is_err());
        assert_eq!(parse_security("insecure"), Ok(SecurityMode::Insecure));
        assert!(parse_security("Insecure").is_err());
    }
}
