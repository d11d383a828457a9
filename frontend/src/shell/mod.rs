//! The shell-word lexer of the Dockerfile frontend: quote removal, escapes and `$`
//! variable expansion, exactly as BuildKit's `frontend/dockerfile/shell` does them, so a
//! Dockerfile means the same to `kiln` as to `docker build`.
//!
//! ```
//! use kiln_frontend::shell::Lexer;
//! let env = vec![("NAME".to_owned(), "kiln".to_owned())];
//! let lexer = Lexer::new('\\');
//! assert_eq!(lexer.process_word("'$NAME' is ${NAME:-x}", &env).unwrap(), "$NAME is kiln");
//! assert_eq!(lexer.process_words("a\\ b  ${NAME}", &env).unwrap(), ["a b", "kiln"]);
//! ```
//!
//! Supported: `'...'`, `"..."`, the escape character (`\` or `` ` ``), `$V`, `${V}`,
//! `${V:-d}` `${V-d}` `${V:+a}` `${V+a}` `${V:?m}` `${V?m}`, `${V#p}` `${V##p}` `${V%p}`
//! `${V%%p}`, `${V/p/r}` `${V//p/r}` (see `pattern.rs` for the pattern language), operands
//! expanded recursively; positional (`$1`) and special (`$@`, `$#`, ...) parameters are
//! looked up like any name and so normally expand to nothing.
//!
//! Where BuildKit has quirks users can observe, we keep them (and say so where they live).

mod chars;
mod dollar;
mod env;
mod error;
mod expand;
mod matcher;
mod pattern;
mod words;

use std::collections::BTreeSet;

pub use env::Env;
pub use error::{ShellError, ShellErrorKind};
pub use expand::MAX_NESTING;

use expand::Expander;

/// Expands words. Holds only options, so one lexer can serve many threads at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexer {
    escape: char,
    /// Keep quote characters in the output (quotes still group and protect).
    pub raw_quotes: bool,
    /// Keep escape characters in the output (they still escape).
    pub raw_escapes: bool,
    /// Leave references to unset variables as written (`$X`, `${X:-d}`, ...) instead of
    /// expanding them; `${X?m}` then does not fail either.
    pub skip_unset_env: bool,
    /// Treat `'` and `"` as ordinary characters.
    pub skip_process_quotes: bool,
}

/// The result of `process_word_with_matches`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expansion {
    /// The expanded word.
    pub result: String,
    /// Names the word looked up that were set (possibly to the empty string).
    pub matched: BTreeSet<String>,
    /// Names the word looked up that were unset. Positional and special parameters
    /// (`1`, `@`, ...) are names too, as in BuildKit.
    pub unmatched: BTreeSet<String>,
}

impl Lexer {
    /// A lexer using `escape` (`\` or `` ` `` in Dockerfiles) as the escape character,
    /// with all options off.
    pub fn new(escape: char) -> Lexer {
        Lexer {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_unset_env: false,
            skip_process_quotes: false,
        }
    }

    /// The escape character.
    pub fn escape(&self) -> char {
        self.escape
    }

    /// Expands `word` into one string; white space is kept as it is.
    pub fn process_word(&self, word: &str, env: &dyn Env) -> Result<String, ShellError> {
        Expander::run(self, word, env, false, false).map(|done| done.result)
    }

    /// Expands `word` and splits it into fields: unquoted white space (also white space
    /// coming from unquoted `$` expansions) separates fields, quoted or escaped white space
    /// does not, and empty fields are dropped.
    pub fn process_words(&self, word: &str, env: &dyn Env) -> Result<Vec<String>, ShellError> {
        Expander::run(self, word, env, true, false).map(|done| done.fields)
    }

    /// Like `process_word`, also returning which names the word used that were set and
    /// which were unset (for the UndefinedVar check and for cache keys).
    pub fn process_word_with_matches(
        &self,
        word: &str,
        env: &dyn Env,
    ) -> Result<Expansion, ShellError> {
        let done = Expander::run(self, word, env, false, true)?;
        let (matched, unmatched) = done.names.unwrap_or_default();
        Ok(Expansion {
            result: done.result,
            matched,
            unmatched,
        })
    }
}
