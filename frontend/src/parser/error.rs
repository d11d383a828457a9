//! Parse errors: every one names the file, line and column, shows the offending line
//! with a caret under the column, and says what was expected.
//!
//! API: [`ParseError`] (the error enum) and [`Location`] (file, line, column, line text;
//! `Display` gives `file:line:col`, [`Location::snippet`] the caret picture).

use std::fmt;

/// A point in a Dockerfile, with the text of its physical line for the caret picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// The physical line, without its line ending (lossily decoded if it was not UTF-8).
    pub text: String,
}

impl Location {
    /// The line with a caret under the column:
    ///
    /// ```text
    ///   3 | ENV PATH
    ///     |         ^
    /// ```
    pub fn snippet(&self) -> String {
        let number = self.line.to_string();
        let pad = " ".repeat(number.len());
        // Tabs are kept so the caret lines up with the terminal's rendering of the line.
        let lead: String = self
            .text
            .chars()
            .take(self.column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let shown: String = self
            .text
            .chars()
            .map(|c| {
                if c.is_control() && c != '\t' {
                    '\u{fffd}'
                } else {
                    c
                }
            })
            .collect();
        format!("  {number} | {shown}\n  {pad} | {lead}^")
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// Why a Dockerfile could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("{at}: the Dockerfile is not valid UTF-8 (invalid byte 0x{byte:02x})\n{snippet}\nexpected: a UTF-8 text file; re-encode it (e.g. `iconv -t UTF-8`)", snippet = .at.snippet())]
    InvalidUtf8 { at: Location, byte: u8 },

    #[error("{at}: the Dockerfile contains a NUL byte, so it looks like a binary file\n{snippet}\nexpected: a text file; check that -f points at a Dockerfile", snippet = .at.snippet())]
    NulByte { at: Location },

    #[error("{at}: line is {len} bytes long, more than the maximum of 65535\n{snippet}\nexpected: shorter lines; split the instruction with line continuations", snippet = .at.snippet())]
    LineTooLong { at: Location, len: usize },

    #[error("{file}: file with no instructions\nexpected: at least one instruction, e.g. `FROM <image>`")]
    NoInstructions { file: String },

    #[error("{at}: {message}\n{snippet}\nexpected: {expected}", snippet = .at.snippet())]
    Directive {
        at: Location,
        message: String,
        expected: String,
    },

    #[error("{at}: unterminated heredoc: no line `{name}` ends the heredoc started here\n{snippet}\nexpected: a line containing only `{name}` after the heredoc body", snippet = .at.snippet())]
    UnterminatedHeredoc { at: Location, name: String },

    #[error("{at}: when using JSON array syntax, arrays must be comprised of strings only\n{snippet}\nexpected: an array of strings like [\"executable\", \"arg\"], or the shell form without brackets", snippet = .at.snippet())]
    NotStringArray { at: Location },

    #[error("{at}: {instruction} must have two arguments\n{snippet}\nexpected: `{instruction} name=value` (or the legacy `{instruction} name value`)", snippet = .at.snippet())]
    MissingValue { at: Location, instruction: String },

    #[error("{at}: Syntax error - can't find = in {word}. Must be of the form: name=value\n{snippet}\nexpected: every word to be `name=value` once the first one is", snippet = .at.snippet())]
    MissingEquals {
        at: Location,
        instruction: String,
        /// The offending word, Go-quoted as BuildKit prints it.
        word: String,
    },

    #[error("{at}: ONBUILD nested {depth} levels deep\n{snippet}\nexpected: one ONBUILD before the trigger instruction", snippet = .at.snippet())]
    TooDeep { at: Location, depth: usize },

    #[error("{at}: invalid heredoc marker: {message}\n{snippet}\nexpected: `<<NAME`, `<<-NAME`, `<<\"NAME\"` or `<<'NAME'`", snippet = .at.snippet())]
    Heredoc { at: Location, message: String },
}

impl ParseError {
    /// Where the error is, when it has a position.
    pub fn location(&self) -> Option<&Location> {
        match self {
            ParseError::NoInstructions { .. } => None,
            ParseError::InvalidUtf8 { at, .. }
            | ParseError::NulByte { at }
            | ParseError::LineTooLong { at, .. }
            | ParseError::Directive { at, .. }
            | ParseError::UnterminatedHeredoc { at, .. }
            | ParseError::NotStringArray { at }
            | ParseError::MissingValue { at, .. }
            | ParseError::MissingEquals { at, .. }
            | ParseError::TooDeep { at, .. }
            | ParseError::Heredoc { at, .. } => Some(at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_puts_caret_under_column() {
        let at = Location {
            file: "Dockerfile".into(),
            line: 12,
            column: 5,
            text: "ENV PATH".into(),
        };
        assert_eq!(at.to_string(), "Dockerfile:12:5");
        assert_eq!(at.snippet(), "  12 | ENV PATH\n     |     ^");
    }

    #[test]
    fn snippet_keeps_tabs_for_alignment() {
        let at = Location {
            file: "f".into(),
            line: 1,
            column: 3,
            text: "\tRX".into(),
        };
        assert_eq!(at.snippet(), "  1 | \tRX\n    | \t ^");
    }
}
