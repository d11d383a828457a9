//! Flag validation as BuildKit's `BFlags`: each instruction declares its flags (bool,
//! string, or repeatable string), and the flags written on the line are checked against
//! them.
//!
//! API: [`FlagKind`], [`parse_flags`] returning [`Flags`] or [`FlagError`].

use std::collections::HashMap;

use super::suggest::nearest;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagKind {
    /// `--link`, `--link=true`, `--link=false`.
    Bool,
    /// `--from=x`, at most once.
    String,
    /// `--exclude=x`, repeatable.
    Strings,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagError {
    #[error("arg should start with -- : {0}")]
    NotAFlag(String),
    #[error("unknown flag: --{name}")]
    Unknown {
        name: String,
        suggestion: Option<String>,
    },
    #[error("duplicate flag specified: --{0}")]
    Duplicate(String),
    #[error("missing a value on flag: --{0}")]
    MissingValue(String),
    #[error("expecting boolean value for flag --{name}, not: {value}")]
    NotBool { name: String, value: String },
}

/// The flags given on one instruction, validated.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    strings: HashMap<&'static str, String>,
    bools: HashMap<&'static str, bool>,
    lists: HashMap<&'static str, Vec<String>>,
    used: Vec<String>,
}

impl Flags {
    /// A string flag's value, `None` when not given.
    pub fn string(&self, name: &str) -> Option<String> {
        self.strings.get(name).cloned()
    }
    /// A bool flag's value, `None` when not given.
    pub fn bool(&self, name: &str) -> Option<bool> {
        self.bools.get(name).copied()
    }
    /// All values of a repeatable flag, in order.
    pub fn strings(&self, name: &str) -> Vec<String> {
        self.lists.get(name).cloned().unwrap_or_default()
    }
    /// The names of the flags that were given, in order, without duplicates.
    pub fn used(&self) -> &[String] {
        &self.used
    }
}

/// Checks `args` (the node's flags) against `spec` (name without `--`, kind).
pub fn parse_flags(args: &[String], spec: &[(&'static str, FlagKind)]) -> Result<Flags, FlagError> {
    let mut flags = Flags::default();
    for arg in args {
        if arg == "--" {
            break;
        }
        let Some(body) = arg.strip_prefix("--") else {
            return Err(FlagError::NotAFlag(arg.clone()));
        };
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let Some(&(key, kind)) = spec.iter().find(|(n, _)| *n == name) else {
            let names: Vec<&str> = spec.iter().map(|(n, _)| *n).collect();
            return Err(FlagError::Unknown {
                name: name.to_string(),
                suggestion: nearest(name, &names).map(|s| format!("--{s}")),
            });
        };
        let seen = flags.used.iter().any(|u| u == key);
        if seen && kind != FlagKind::Strings {
            return Err(FlagError::Duplicate(key.to_string()));
        }
        if !seen {
            flags.used.push(key.to_string());
        }
        match kind {
            FlagKind::Bool => {
                let v = match value.map(str::to_ascii_lowercase).as_deref() {
                    None => true,
                    Some("") => return Err(FlagError::MissingValue(key.to_string())),
                    Some("true") => true,
                    Some("false") => false,
                    Some(_) => {
                        return Err(FlagError::NotBool {
                            name: key.to_string(),
                            value: value.unwrap_or_default().to_string(),
                        })
                    }
                };
                flags.bools.insert(key, v);
            }
            FlagKind::String => {
                let v = value.ok_or_else(|| FlagError::MissingValue(key.to_string()))?;
                flags.strings.insert(key, v.to_string());
            }
            FlagKind::Strings => {
                let v = value.ok_or_else(|| FlagError::MissingValue(key.to_string()))?;
                flags.lists.entry(key).or_default().push(v.to_string());
            }
        }
    }
    Ok(flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: [(&str, FlagKind); 3] = [
        ("link", FlagKind::Bool),
        ("from", FlagKind::String),
        ("exclude", FlagKind::Strings),
    ];

    fn parse(args: &[&str]) -> Result<Flags, FlagError> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse_flags(&args, &SPEC)
    }

    #[test]
    fn kinds_and_values() {
        let f = parse(&["--link", "--from=a=b", "--exclude=x", "--exclude=y"]).unwrap();
        assert_eq!(f.bool("link"), Some(true));
        assert_eq!(f.string("from").as_deref(), Some("a=b"));
        assert_eq!(f.strings("exclude"), ["x", "y"]);
        assert_eq!(f.used(), ["link", "from", "exclude"]);
        assert_eq!(parse(&["--link=FALSE"]).unwrap().bool("link"), Some(false));
        assert_eq!(parse(&[]).unwrap().bool("link"), None);
        assert_eq!(
            parse(&["--from="]).unwrap().string("from").as_deref(),
            Some("")
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse(&["--form=a"]).unwrap_err(),
            FlagError::Unknown {
                name: "form".into(),
                suggestion: Some("--from".into())
            }
        );
        assert_eq!(
            parse(&["--from=a", "--from=b"]).unwrap_err(),
            FlagError::Duplicate("from".into())
        );
        assert_eq!(
            parse(&["--from"]).unwrap_err(),
            FlagError::MissingValue("from".into())
        );
        assert_eq!(
            parse(&["--link="]).unwrap_err(),
            FlagError::MissingValue("link".into())
        );
        assert!(matches!(
            parse(&["--link=yes"]),
            Err(FlagError::NotBool { .. })
        ));
        assert!(matches!(parse(&["-x"]), Err(FlagError::NotAFlag(_))));
        assert_eq!(parse(&["--", "--bogus"]).unwrap().used().len(), 0);
    }
}
