//! The error a word expansion can fail with.
//!
//! Messages follow BuildKit's wording where users know it ("V: message", "bad substitution",
//! "missing '}'") and add what to do about it; every error carries the word and the column
//! (1-based, in characters) where the problem was found.

/// Words longer than this are shortened in messages so a 1 MB word does not flood the log.
const SHOWN_WORD_CHARS: usize = 120;

/// What went wrong while expanding one word.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShellErrorKind {
    /// A `'` or `"` was opened and the word ended before it was closed.
    #[error(
        "unterminated quote: no matching {quote} before the end of the word; close it, or escape \
         the quote character"
    )]
    UnterminatedQuote { quote: char },
    /// `${` without its `}`.
    #[error("syntax error: missing '}}' to close '${{'")]
    MissingBrace,
    /// `${V/pattern` without the `/` that starts the replacement.
    #[error("syntax error: missing '/' in ${{}}; write ${{VAR/pattern/replacement}}")]
    MissingSlash,
    /// `${}`, `${{...}`, `${:...}`: `${` must be followed by a variable name.
    #[error("syntax error: bad substitution; '${{' must be followed by a variable name")]
    BadSubstitution,
    /// An operator BuildKit does not support, e.g. `${V:=x}` or `${V:#x}`.
    #[error(
        "unsupported modifier ({modifier}) in substitution; supported are :- - :+ + :? ? # ## % %% \
         / //"
    )]
    UnsupportedModifier { modifier: String },
    /// `${V?msg}` with V unset, or `${V:?msg}` with V unset or empty.
    #[error("{name}: {message}")]
    Required { name: String, message: String },
    /// A `#`, `%` or `/` pattern with an escape other than `\*`, `\?`, `\\`, `\}`, `\/`.
    #[error(
        "invalid pattern ({pattern}) in substitution: invalid escape '\\{escaped}'; only \\*, \\?, \
         \\\\, \\}} and \\/ may be escaped in a pattern"
    )]
    InvalidPattern { pattern: String, escaped: String },
    /// Expansions nested deeper than any real Dockerfile needs (guards the stack).
    #[error(
        "expansions are nested more than {limit} levels deep; flatten them into several ARG/ENV"
    )]
    TooDeep { limit: usize },
}

/// An expansion failure: the word, where in it, and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} (in '{}' at column {column})", shown(word))]
pub struct ShellError {
    /// The whole word that was being expanded.
    pub word: String,
    /// 1-based character column in `word` where the problem was detected.
    pub column: usize,
    /// What went wrong.
    pub kind: ShellErrorKind,
}

impl ShellError {
    /// Builds the error for `kind` found at byte offset `at` of `word`.
    pub(super) fn at(word: &str, at: usize, kind: ShellErrorKind) -> ShellError {
        let prefix = word.get(..at).unwrap_or(word);
        ShellError {
            word: word.to_owned(),
            column: prefix.chars().count() + 1,
            kind,
        }
    }
}

fn shown(word: &str) -> String {
    let total = word.chars().count();
    if total <= SHOWN_WORD_CHARS {
        return word.to_owned();
    }
    let head: String = word.chars().take(SHOWN_WORD_CHARS).collect();
    format!("{head}… ({total} characters)")
}
