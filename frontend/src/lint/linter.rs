//! The warning collector the checks report into: it applies the `check` configuration
//! (file-wide, and per instruction from the comments above it) and keeps the warnings in
//! the order they were found.
//!
//! API: [`Linter`] (`new`, `report`, `warnings`, `into_warnings`, `violation`),
//! [`LintWarning`].

use std::collections::HashSet;

use serde::Serialize;

use super::config::CheckConfig;
use super::rules::Rule;

/// One finding of a build check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LintWarning {
    pub rule: Rule,
    /// The one-line reason, as BuildKit words it.
    pub message: String,
    /// 1-based first and last line of the instruction (0 when not tied to a line).
    pub start_line: usize,
    pub end_line: usize,
}

impl LintWarning {
    /// BuildKit's short form: `Rule: message (line N)`.
    pub fn short(&self) -> String {
        if self.start_line > 0 {
            format!("{}: {} (line {})", self.rule, self.message, self.start_line)
        } else {
            format!("{}: {}", self.rule, self.message)
        }
    }
}

/// Collects warnings under a check configuration.
#[derive(Debug, Clone, Default)]
pub struct Linter {
    config: CheckConfig,
    warnings: Vec<LintWarning>,
    /// Findings already reported (rule, message, first line), for deduplication.
    seen: HashSet<(Rule, String, usize)>,
}

impl Linter {
    pub fn new(config: CheckConfig) -> Linter {
        Linter {
            config,
            warnings: Vec::new(),
            seen: HashSet::new(),
        }
    }

    pub fn config(&self) -> &CheckConfig {
        &self.config
    }

    /// Records a warning for an instruction spanning `lines`, unless the file's config or
    /// a `check=` comment among `comments` (the instruction's own) turns the rule off.
    pub fn report(
        &mut self,
        rule: Rule,
        message: String,
        lines: (usize, usize),
        comments: &[String],
    ) {
        let enabled = if comments.is_empty() {
            self.config.enabled(rule)
        } else {
            self.config.with_comments(comments).enabled(rule)
        };
        if !enabled {
            tracing::debug!(rule = rule.name(), "lint rule skipped by check config");
            return;
        }
        // The same finding can be reached twice (an ONBUILD trigger in two stages, a
        // variable used twice on one line); report it once.
        if self.seen.insert((rule, message.clone(), lines.0)) {
            self.warnings.push(LintWarning {
                rule,
                message,
                start_line: lines.0,
                end_line: lines.1,
            });
        }
    }

    pub fn warnings(&self) -> &[LintWarning] {
        &self.warnings
    }

    pub fn into_warnings(self) -> Vec<LintWarning> {
        self.warnings
    }

    /// With `error=true` and at least one warning: the distinct rule names that fired,
    /// as BuildKit's "lint violation found for rules: ..." lists them.
    pub fn violation(&self) -> Option<Vec<String>> {
        if !self.config.error || self.warnings.is_empty() {
            return None;
        }
        let mut names: Vec<String> = self.warnings.iter().map(|w| w.rule.to_string()).collect();
        names.sort();
        names.dedup();
        Some(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_and_dedups() {
        let mut l = Linter::new(CheckConfig::parse("skip=FromAsCasing;error=true").unwrap());
        l.report(Rule::FromAsCasing, "x".into(), (1, 1), &[]);
        assert!(l.violation().is_none());
        l.report(Rule::UndefinedVar, "y".into(), (2, 2), &[]);
        l.report(Rule::UndefinedVar, "y".into(), (2, 2), &[]);
        l.report(
            Rule::UndefinedVar,
            "z".into(),
            (3, 3),
            &["check=skip=UndefinedVar".into()],
        );
        assert_eq!(l.warnings().len(), 1);
        assert_eq!(l.warnings()[0].short(), "UndefinedVar: y (line 2)");
        assert_eq!(l.violation(), Some(vec!["UndefinedVar".to_string()]));
    }
}
