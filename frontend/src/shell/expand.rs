//! The expansion state machine: quotes, escapes and the top-level scan of a word. `$`
//! expansions live in `dollar.rs`; both work on the one `Expander` of a word.

use std::collections::BTreeSet;

use super::chars::Cursor;
use super::env::Env;
use super::error::{ShellError, ShellErrorKind};
use super::words::Fields;
use super::Lexer;

/// Nested `${V:-${W:-...}}` operands deeper than this are refused: the expansion recurses,
/// and a hostile word must not be able to overflow the stack.
pub const MAX_NESTING: usize = 100;

/// A failure at a byte offset of the word; becomes a `ShellError` at the top.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) at: usize,
    pub(super) kind: ShellErrorKind,
}

pub(super) type Step<T> = Result<T, Failure>;

/// Everything one expansion of one word needs.
pub(super) struct Expander<'w, 'e> {
    pub(super) lexer: &'w Lexer,
    pub(super) cur: Cursor<'w>,
    pub(super) env: &'e dyn Env,
    /// Whether escape characters are kept; `#`, `%` and `/` operands keep them for the
    /// pattern matcher, whatever the lexer's option says.
    pub(super) raw_escapes: bool,
    /// `Some` when the caller wants fields (`process_words`).
    pub(super) fields: Option<Fields>,
    /// `Some` when the caller wants the matched/unmatched names.
    pub(super) names: Option<(BTreeSet<String>, BTreeSet<String>)>,
    pub(super) depth: usize,
}

/// What a finished expansion produced.
pub(super) struct Expanded {
    pub(super) result: String,
    pub(super) fields: Vec<String>,
    pub(super) names: Option<(BTreeSet<String>, BTreeSet<String>)>,
}

impl<'w, 'e> Expander<'w, 'e> {
    pub(super) fn run(
        lexer: &'w Lexer,
        word: &'w str,
        env: &'e dyn Env,
        want_fields: bool,
        want_names: bool,
    ) -> Result<Expanded, ShellError> {
        let mut ex = Expander {
            lexer,
            cur: Cursor::new(word),
            env,
            raw_escapes: lexer.raw_escapes,
            fields: want_fields.then(Fields::default),
            names: want_names.then(Default::default),
            depth: 0,
        };
        match ex.scan(None, lexer.raw_escapes) {
            Ok(result) => Ok(Expanded {
                result,
                fields: ex.fields.take().map(Fields::finish).unwrap_or_default(),
                names: ex.names.take(),
            }),
            Err(failure) => {
                tracing::trace!(word, error = %failure.kind, "word expansion failed");
                Err(ShellError::at(word, failure.at, failure.kind))
            }
        }
    }

    /// Scans until `stop` (consumed) or the end of the word, expanding as it goes. Only
    /// the top-level scan (`stop == None`) feeds the fields.
    pub(super) fn scan(&mut self, stop: Option<char>, raw_escapes: bool) -> Step<String> {
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let scanned = self.scan_inner(stop);
        self.raw_escapes = saved;
        scanned
    }

    fn scan_inner(&mut self, stop: Option<char>) -> Step<String> {
        let top = stop.is_none();
        let quotes = !self.lexer.skip_process_quotes;
        let mut result = String::new();
        while let Some(ch) = self.cur.peek() {
            if Some(ch) == stop {
                self.cur.next();
                return Ok(result);
            }
            let special = match ch {
                '$' => Some(self.dollar()?),
                '<' => Some(self.maybe_heredoc()),
                '\'' if quotes => Some(self.single_quoted()?),
                '"' if quotes => Some(self.double_quoted()?),
                _ => None,
            };
            if let Some(text) = special {
                if top {
                    if let Some(fields) = &mut self.fields {
                        // Only unquoted `$` results split; quotes and `<<` never do.
                        if ch == '$' {
                            fields.add_str(&text);
                        } else {
                            fields.add_raw_str(&text);
                        }
                    }
                }
                result.push_str(&text);
                continue;
            }
            self.cur.next();
            let fields = if top { self.fields.as_mut() } else { None };
            if ch != self.lexer.escape {
                if let Some(fields) = fields {
                    fields.add_char(ch);
                }
                result.push(ch);
                continue;
            }
            let kept_escape = self.raw_escapes.then_some(ch);
            // A lone escape at the very end is dropped (unless escapes are kept raw).
            let escaped = self.cur.next();
            if let Some(fields) = fields {
                kept_escape
                    .into_iter()
                    .chain(escaped)
                    .for_each(|c| fields.add_raw_char(c));
            }
            result.extend(kept_escape.into_iter().chain(escaped));
        }
        match stop {
            // The caller reports what was missing (`}` or `/`).
            Some(_) => Err(self.fail(ShellErrorKind::MissingBrace)),
            None => Ok(result),
        }
    }

    /// Runs a nested scan for an operand of `${...}` (`-`, `+`, `?`, `#`, `%`, `/`).
    pub(super) fn operand(
        &mut self,
        stop: char,
        raw_escapes: bool,
        missing: ShellErrorKind,
    ) -> Step<String> {
        if self.depth >= MAX_NESTING {
            return Err(self.fail(ShellErrorKind::TooDeep { limit: MAX_NESTING }));
        }
        if let Some(fields) = &mut self.fields {
            fields.drop_unfinished();
        }
        self.depth += 1;
        let scanned = self.scan(Some(stop), raw_escapes);
        self.depth -= 1;
        scanned.map_err(|failure| {
            let too_deep = matches!(failure.kind, ShellErrorKind::TooDeep { .. });
            // Anything that ran off the end of the word means the operand was never closed.
            if self.cur.at_end() && !too_deep {
                self.fail(missing)
            } else {
                failure
            }
        })
    }

    /// `'...'`: everything literal up to the next `'`; nothing can be escaped.
    fn single_quoted(&mut self) -> Step<String> {
        let raw = self.lexer.raw_quotes;
        let mut out = String::new();
        if let Some(open) = self.cur.next().filter(|_| raw) {
            out.push(open);
        }
        loop {
            match self.cur.next() {
                None => return Err(self.fail(ShellErrorKind::UnterminatedQuote { quote: '\'' })),
                Some('\'') => {
                    if raw {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(ch) => out.push(ch),
            }
        }
    }

    /// `"..."`: literal except `$` expansions and the escape character, which escapes only
    /// `"`, `$` and itself (before anything else it stays as typed).
    fn double_quoted(&mut self) -> Step<String> {
        let raw = self.lexer.raw_quotes;
        let escape = self.lexer.escape;
        let mut out = String::new();
        if let Some(open) = self.cur.next().filter(|_| raw) {
            out.push(open);
        }
        loop {
            match self.cur.peek() {
                None => return Err(self.fail(ShellErrorKind::UnterminatedQuote { quote: '"' })),
                Some('"') => {
                    self.cur.next();
                    if raw {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => {
                    let value = self.dollar()?;
                    out.push_str(&value);
                }
                Some(_) => {
                    let Some(mut ch) = self.cur.next() else {
                        continue;
                    };
                    if ch == escape {
                        if self.raw_escapes {
                            out.push(ch);
                        }
                        match self.cur.peek() {
                            // Dropped here; the loop then reports the unterminated quote.
                            None => continue,
                            Some(next) if next == '"' || next == '$' || next == escape => {
                                ch = next;
                                self.cur.next();
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(ch);
                }
            }
        }
    }

    /// `<` is passed through, but `<<` and the blanks after it are kept in one field so the
    /// parser can find heredoc markers with `process_words`.
    fn maybe_heredoc(&mut self) -> String {
        self.cur.next();
        if self.cur.peek() != Some('<') {
            return "<".to_owned();
        }
        self.cur.next();
        let mut out = "<<".to_owned();
        while let Some(ch) = self.cur.peek().filter(|c| matches!(c, ' ' | '\t' | '\r')) {
            out.push(ch);
            self.cur.next();
        }
        out
    }

    pub(super) fn fail(&self, kind: ShellErrorKind) -> Failure {
        Failure {
            at: self.cur.pos(),
            kind,
        }
    }

    /// Looks `name` up, recording it as matched or unmatched when the caller asked.
    pub(super) fn lookup(&mut self, name: &str) -> Option<String> {
        let value = self.env.get(name);
        if let Some((matched, unmatched)) = &mut self.names {
            let set = if value.is_some() { matched } else { unmatched };
            if !set.contains(name) {
                set.insert(name.to_owned());
            }
        }
        value
    }
}
