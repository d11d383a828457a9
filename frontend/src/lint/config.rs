//! The `# check=` directive: which rules to skip, whether warnings fail the build, which
//! experimental rules to run. The same syntax works in the file's directive block and in
//! a comment directly above one instruction (which then applies to that instruction only).
//!
//! API: [`CheckConfig`] (`parse`, `merged`, `enabled`, `from_comments`),
//! [`CheckConfigError`].

use std::collections::BTreeSet;

use super::rules::Rule;
use crate::parser::DirectiveParser;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckConfigError {
    #[error("invalid check option {0:?}: expected `skip=<rules>|all`, `error=true|false` or `experimental=<rules>|all`, separated by `;`")]
    InvalidOption(String),
    #[error(
        "failed to parse check option {option:?}: {value:?} is not a boolean (use true or false)"
    )]
    InvalidBool { option: String, value: String },
}

/// What the `check` directive asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckConfig {
    pub skip_all: bool,
    pub skip: BTreeSet<String>,
    /// `error=true`: any warning fails the build (and `kiln lint` exits 1).
    pub error: bool,
    pub experimental_all: bool,
    pub experimental: BTreeSet<String>,
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn rule_list(v: &str) -> BTreeSet<String> {
    v.split(',').map(|r| r.trim().to_string()).collect()
}

impl CheckConfig {
    /// Parses `skip=A,B;error=true` as BuildKit does (at most three `;`-separated parts).
    pub fn parse(text: &str) -> Result<CheckConfig, CheckConfigError> {
        let text = text.trim();
        let mut config = CheckConfig::default();
        if text.is_empty() {
            return Ok(config);
        }
        for part in text.splitn(3, ';') {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| CheckConfigError::InvalidOption(part.to_string()))?;
            let value = value.trim();
            match key.trim() {
                "skip" if value == "all" => config.skip_all = true,
                "skip" => config.skip = rule_list(value),
                "experimental" if value == "all" => config.experimental_all = true,
                "experimental" => config.experimental = rule_list(value),
                "error" => {
                    config.error =
                        parse_go_bool(value).ok_or_else(|| CheckConfigError::InvalidBool {
                            option: part.to_string(),
                            value: value.to_string(),
                        })?
                }
                other => return Err(CheckConfigError::InvalidOption(other.to_string())),
            }
        }
        Ok(config)
    }

    /// This configuration with `other`'s skips, experiments and error flag added.
    pub fn merged(&self, other: &CheckConfig) -> CheckConfig {
        let mut out = self.clone();
        out.skip_all |= other.skip_all;
        out.experimental_all |= other.experimental_all;
        out.error |= other.error;
        out.skip.extend(other.skip.iter().cloned());
        out.experimental.extend(other.experimental.iter().cloned());
        out
    }

    /// The configuration for one instruction: the first `check=` comment directly above
    /// it merged in (an unparsable one is ignored, as BuildKit does).
    pub fn with_comments(&self, comments: &[String]) -> CheckConfig {
        for comment in comments {
            let mut p = DirectiveParser::new("");
            let Ok(Some(d)) = p.parse_line(comment) else {
                continue;
            };
            if d.name != "check" {
                continue;
            }
            let value = d.value.split(' ').next().unwrap_or_default();
            return match CheckConfig::parse(value) {
                Ok(c) => self.merged(&c),
                Err(_) => self.clone(),
            };
        }
        self.clone()
    }

    /// Whether `rule` runs under this configuration.
    pub fn enabled(&self, rule: Rule) -> bool {
        if rule.is_experimental() {
            return self.experimental_all || self.experimental.contains(rule.name());
        }
        !(self.skip_all || self.skip.contains(rule.name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_buildkit_syntax() {
        let c = CheckConfig::parse(" skip = StageNameCasing, FromAsCasing ;error=true").unwrap();
        assert!(c.error);
        assert!(!c.enabled(Rule::StageNameCasing));
        assert!(!c.enabled(Rule::FromAsCasing));
        assert!(c.enabled(Rule::UndefinedVar));
        let all = CheckConfig::parse("skip=all").unwrap();
        assert!(Rule::ALL.iter().all(|r| !all.enabled(*r)));
        assert_eq!(CheckConfig::parse("").unwrap(), CheckConfig::default());
    }

    #[test]
    fn rejects_bad_options() {
        assert!(matches!(
            CheckConfig::parse("skip"),
            Err(CheckConfigError::InvalidOption(_))
        ));
        assert!(matches!(
            CheckConfig::parse("nope=1"),
            Err(CheckConfigError::InvalidOption(_))
        ));
        assert!(matches!(
            CheckConfig::parse("error=yes"),
            Err(CheckConfigError::InvalidBool { .. })
        ));
    }

    #[test]
    fn comment_config_merges_for_one_instruction() {
        let base = CheckConfig::parse("skip=UndefinedVar").unwrap();
        let c = base.with_comments(&["just a note".into(), "check=skip=FromAsCasing".into()]);
        assert!(!c.enabled(Rule::UndefinedVar));
        assert!(!c.enabled(Rule::FromAsCasing));
        assert!(base.enabled(Rule::FromAsCasing));
        assert_eq!(base.with_comments(&["check=bogus".into()]), base);
    }
}
