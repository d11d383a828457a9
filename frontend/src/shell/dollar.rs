//! `$` expansions: `$NAME`, `${NAME}` and the `${NAME<op>operand}` forms.

use super::chars::{is_digit, is_letter};
use super::error::ShellErrorKind;
use super::expand::{Expander, Step};
use super::pattern::{self, Pattern};

/// How an unset name shows up in the output when `skip_unset_env` keeps it as written.
enum Kept<'a> {
    Bare,
    Braced,
    Operator {
        modifier: &'a str,
        operand: &'a str,
    },
    Replace {
        pattern: &'a str,
        replacement: &'a str,
    },
}

impl Expander<'_, '_> {
    /// Expands the `$...` at the cursor.
    pub(super) fn dollar(&mut self) -> Step<String> {
        self.cur.next();
        if self.cur.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_owned());
            }
            return Ok(self.value_or_kept(&name, Kept::Bare));
        }
        self.cur.next();
        match self.cur.peek() {
            None => return Err(self.fail(ShellErrorKind::MissingBrace)),
            Some('{' | '}' | ':') => return Err(self.fail(ShellErrorKind::BadSubstitution)),
            Some(_) => {}
        }
        let name = self.name();
        let op = self.cur.next();
        // Go renders "no character" as U+FFFD; only error messages show it.
        let mut modifier = String::from(op.unwrap_or('\u{FFFD}'));
        match op {
            Some('}') => Ok(self.value_or_kept(&name, Kept::Braced)),
            Some(':') => {
                let op = self.cur.next();
                modifier.push(op.unwrap_or('\u{FFFD}'));
                self.operator(&name, op, true, &modifier)
            }
            Some('+' | '-' | '?' | '#' | '%') => self.operator(&name, op, false, &modifier),
            Some('/') => self.replace(&name),
            _ => Err(self.fail(ShellErrorKind::UnsupportedModifier { modifier })),
        }
    }

    /// A variable name: letters, digits and `_`; or a run of digits (positional
    /// parameter); or one special parameter character. Empty when none is there.
    fn name(&mut self) -> String {
        let mut name = String::new();
        match self.cur.peek() {
            Some(c) if is_digit(c) => {
                while let Some(c) = self.cur.peek().filter(|&c| is_digit(c)) {
                    name.push(c);
                    self.cur.next();
                }
                return name;
            }
            Some(c @ ('@' | '*' | '#' | '?' | '-' | '$' | '!')) => {
                self.cur.next();
                name.push(c);
                return name;
            }
            _ => {}
        }
        while let Some(c) = self
            .cur
            .peek()
            .filter(|&c| is_letter(c) || is_digit(c) || c == '_')
        {
            name.push(c);
            self.cur.next();
        }
        name
    }

    fn value_or_kept(&mut self, name: &str, kept: Kept<'_>) -> String {
        match self.lookup(name) {
            Some(value) => value,
            None if self.lexer.skip_unset_env => as_written(name, kept),
            None => String::new(),
        }
    }
}

/// The text of an unset expansion kept as written (`skip_unset_env`).
fn as_written(name: &str, kept: Kept<'_>) -> String {
    match kept {
        Kept::Bare => format!("${name}"),
        Kept::Braced => format!("${{{name}}}"),
        Kept::Operator { modifier, operand } => format!("${{{name}{modifier}{operand}}}"),
        // BuildKit writes a single `/` here even for `//`.
        Kept::Replace {
            pattern,
            replacement,
        } => format!("${{{name}/{pattern}/{replacement}}}"),
    }
}

impl Expander<'_, '_> {
    /// `${NAME<modifier>operand}` for `-`, `+`, `?`, `#`, `##`, `%`, `%%` and their `:` forms.
    /// As in BuildKit the operand is expanded (and the name looked up) before an unknown
    /// `:x` operator is refused.
    fn operator(
        &mut self,
        name: &str,
        op: Option<char>,
        null_is_unset: bool,
        modifier: &str,
    ) -> Step<String> {
        let trims = matches!(op, Some('#' | '%'));
        if null_is_unset && trims {
            return Err(self.fail(ShellErrorKind::UnsupportedModifier {
                modifier: modifier.to_owned(),
            }));
        }
        let operand = self.operand('}', trims, ShellErrorKind::MissingBrace)?;
        let value = self.lookup(name);
        if value.is_none() && self.lexer.skip_unset_env {
            return Ok(as_written(
                name,
                Kept::Operator {
                    modifier,
                    operand: &operand,
                },
            ));
        }
        let absent = match &value {
            None => true,
            Some(v) => null_is_unset && v.is_empty(),
        };
        match op {
            Some('-') => Ok(if absent {
                operand
            } else {
                value.unwrap_or_default()
            }),
            Some('+') => Ok(if absent { String::new() } else { operand }),
            Some('?') if absent => {
                let default = if value.is_none() {
                    "is not allowed to be unset"
                } else {
                    "is not allowed to be empty"
                };
                let message = if operand.is_empty() {
                    default.to_owned()
                } else {
                    operand
                };
                Err(self.fail(ShellErrorKind::Required {
                    name: name.to_owned(),
                    message,
                }))
            }
            Some('?') => Ok(value.unwrap_or_default()),
            Some(op @ ('#' | '%')) => {
                let value = value.unwrap_or_default();
                // A doubled operator (`##`, `%%`) is seen after expansion, as in BuildKit.
                let (longest, pattern) = match operand.strip_prefix(op) {
                    Some(rest) => (true, rest),
                    None => (false, operand.as_str()),
                };
                let trimmed = if op == '#' {
                    pattern::trim_prefix(pattern, &value, longest)
                } else {
                    pattern::trim_suffix(pattern, &value, longest)
                };
                trimmed.map_err(|bad| self.fail(bad.into_kind(pattern)))
            }
            _ => Err(self.fail(ShellErrorKind::UnsupportedModifier {
                modifier: modifier.to_owned(),
            })),
        }
    }

    /// `${NAME/pattern/replacement}` (first match) and `${NAME//pattern/replacement}` (all).
    fn replace(&mut self, name: &str) -> Step<String> {
        let all = self.cur.peek() == Some('/');
        if all {
            self.cur.next();
        }
        let pattern = self.operand('/', true, ShellErrorKind::MissingSlash)?;
        let replacement = self.operand('}', true, ShellErrorKind::MissingBrace)?;
        let value = self.lookup(name);
        if value.is_none() && self.lexer.skip_unset_env {
            return Ok(as_written(
                name,
                Kept::Replace {
                    pattern: &pattern,
                    replacement: &replacement,
                },
            ));
        }
        let value = value.unwrap_or_default();
        let compiled =
            Pattern::parse(&pattern).map_err(|bad| self.fail(bad.into_kind(&pattern)))?;
        Ok(if all {
            compiled.replace_all(&value, &replacement)
        } else {
            compiled.replace_first(&value, &replacement)
        })
    }
}
