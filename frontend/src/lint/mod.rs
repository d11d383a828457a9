//! BuildKit's build checks ("lint"): rule definitions, the `# check=` directive, the
//! checks on the parse tree, and the entry point that also compiles every stage (most
//! checks — UndefinedVar, WorkdirRelativePath, … — run while compiling, as in BuildKit).
//!
//! API:
//! - [`lint`]`(file, data, &CompileOptions, &dyn ImageResolver) -> Result<LintReport, DockerfileError>`
//! - [`LintReport`] (`warnings`, `error`, `fails()`, `to_text()`, `to_json()`),
//!   [`LintWarning`], [`Rule`], [`CheckConfig`], [`Linter`], [`check_syntax`], [`suggest`].

mod config;
mod linter;
mod rules;
mod suggest;
mod syntax;

pub use config::{CheckConfig, CheckConfigError};
pub use linter::{LintWarning, Linter};
pub use rules::Rule;
pub use suggest::suggest;
pub use syntax::check_syntax;

use crate::compile::{compile_collecting, CompileError, CompileOptions, ImageResolver};
use crate::instructions::DockerfileError;

/// The outcome of linting one Dockerfile.
#[derive(Debug, Clone)]
pub struct LintReport {
    pub file: String,
    pub warnings: Vec<LintWarning>,
    /// `# check=error=true`: warnings fail the check.
    pub error_on_warnings: bool,
    /// The Dockerfile could not be compiled past some point; the warnings found before
    /// it are still reported.
    pub error: Option<String>,
    /// The Dockerfile's lines, to show the ones warned about.
    lines: Vec<String>,
}

/// Runs every check on `data`. Only a file that does not parse (or whose instructions
/// are malformed) is an `Err`; other compile errors end up in [`LintReport::error`].
pub fn lint(
    file: &str,
    data: &[u8],
    opts: &CompileOptions,
    resolver: &dyn ImageResolver,
) -> Result<LintReport, DockerfileError> {
    let mut opts = opts.clone();
    // Without --target every stage is checked, as `docker build --check` does.
    if opts.target.as_deref().is_none_or(str::is_empty) {
        opts.all_stages = true;
    }
    let (result, linter) = compile_collecting(file, data, &opts, resolver);
    let error = match result {
        Ok(_) => None,
        Err(CompileError::Dockerfile(e)) => return Err(e),
        Err(e) => Some(e.to_string()),
    };
    Ok(LintReport {
        file: file.to_string(),
        error_on_warnings: linter.config().error,
        warnings: linter.into_warnings(),
        error,
        lines: String::from_utf8_lossy(data)
            .lines()
            .map(str::to_string)
            .collect(),
    })
}

impl LintReport {
    /// Whether the check fails: a compile error, or warnings under `error=true`.
    pub fn fails(&self) -> bool {
        self.error.is_some() || (self.error_on_warnings && !self.warnings.is_empty())
    }

    /// BuildKit's wording, one warning per block with where it is and how to fix it.
    pub fn to_text(&self) -> String {
        let n = self.warnings.len();
        let mut out = match n {
            0 => "Check complete, no warnings found.\n".to_string(),
            1 => "Check complete, 1 warning has been found!\n".to_string(),
            _ => format!("Check complete, {n} warnings have been found!\n"),
        };
        let level = if self.error_on_warnings {
            "ERROR"
        } else {
            "WARN"
        };
        for w in &self.warnings {
            out.push('\n');
            let line = if w.start_line > 0 {
                format!(" (line {})", w.start_line)
            } else {
                String::new()
            };
            out.push_str(&format!("{level}: {} - {}{line}\n", w.rule, w.message));
            out.push_str(&format!("  --> {}:{}\n", self.file, w.start_line));
            let shown = w.start_line.max(1)..=w.end_line.max(w.start_line).min(w.start_line + 4);
            for n in shown {
                if let Some(text) = n.checked_sub(1).and_then(|i| self.lines.get(i)) {
                    out.push_str(&format!("  {n:>4} | {text}\n"));
                }
            }
            out.push_str(&format!("  fix: {} (see {})\n", w.rule.fix(), w.rule.url()));
        }
        if let Some(e) = &self.error {
            out.push_str(&format!(
                "\nERROR: the Dockerfile could not be checked completely:\n{e}\n"
            ));
        }
        out
    }

    /// For machines: `{"file", "warnings": [{rule, description, url, message, line,
    /// end_line, fix}], "error", "error_on_warnings"}`.
    pub fn to_json(&self) -> serde_json::Value {
        let warnings: Vec<_> = self
            .warnings
            .iter()
            .map(|w| {
                serde_json::json!({
                    "rule": w.rule.name(),
                    "description": w.rule.description(),
                    "url": w.rule.url(),
                    "message": w.message,
                    "line": w.start_line,
                    "end_line": w.end_line,
                    "fix": w.rule.fix(),
                })
            })
            .collect();
        serde_json::json!({
            "file": self.file,
            "warnings": warnings,
            "error_on_warnings": self.error_on_warnings,
            "error": self.error,
        })
    }
}
