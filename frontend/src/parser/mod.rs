//! The Dockerfile parser: BuildKit's parser behaviour in Rust. Logical lines (parser
//! directives, comments, continuations, heredoc bodies) are assembled by hand, each
//! instruction's arguments are split as BuildKit's dispatch table does, and heredoc
//! markers are read with a pest grammar (`heredoc.pest`).
//!
//! API:
//! - [`parse`]`(file, data) -> Result<ParseResult, ParseError>`: the whole file.
//! - [`ParseResult`] (`nodes`, `directives`, `escape`, `warnings`, `dump()`), [`Node`]
//!   (`name`, `keyword`, `original`, `flags`, `args`, `child`, `heredocs`, `json`,
//!   `start_line`, `end_line`, `comments`, `dump()`), [`Heredoc`], [`Directive`],
//!   [`Warning`], [`WarningKind`].
//! - [`ParseError`] and [`Location`]: every error has file, line, column and a caret.
//! - [`print_node`] / [`print_dockerfile`]: an AST back to Dockerfile text.
//! - [`parse_heredoc_marker`], [`detect_syntax`], [`DirectiveParser`],
//!   [`chomp_heredoc_content`], [`goquote::quote`], [`parse_words`].

mod ast;
mod directives;
mod error;
pub mod goquote;
mod heredoc;
mod json;
mod line_parsers;
mod logical;
mod print;
pub(crate) mod source;
mod split;
mod words;

pub use ast::{chomp_heredoc_content, Directive, Heredoc, Node, ParseResult, Warning, WarningKind};
pub use directives::{detect_syntax, DirectiveError, DirectiveParser, DIRECTIVE_KEYS};
pub use error::{Location, ParseError};
pub use heredoc::{parse_heredoc_marker, MarkerError};
pub use json::{parse_json_array, JsonArray};
pub use line_parsers::{parse_words, KNOWN as KNOWN_INSTRUCTIONS};
pub use print::{print_dockerfile, print_node};
pub use source::MAX_LINE_LEN;

/// Parses a whole Dockerfile. `file` is only used to name the file in errors.
pub fn parse(file: &str, data: &[u8]) -> Result<ParseResult, ParseError> {
    logical::parse(file, data)
}
