//! Parser directives (`# syntax=`, `# escape=`, `# check=`) in the leading comment
//! block, with BuildKit's detection rules: keys are case-insensitive, blanks around `=`
//! are allowed, each key may appear once, and the first line that is not a directive
//! (a blank line, another comment, an instruction) ends the block.
//!
//! API: [`DirectiveParser`] (line by line, as the parser uses it) and [`detect_syntax`]
//! (BuildKit's `DetectSyntax`: also `// syntax=` and JSON `{"syntax": ...}`, after an
//! optional `#!` shebang line).

use super::ast::Directive;

/// The directive keys BuildKit knows.
pub const DIRECTIVE_KEYS: [&str; 3] = ["syntax", "escape", "check"];

/// A directive line that cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectiveError {
    #[error("only one {0} parser directive can be used")]
    Duplicate(String),
}

/// Reads directives one line at a time until the block ends.
#[derive(Debug, Clone)]
pub struct DirectiveParser {
    prefix: &'static str,
    line: usize,
    seen: Vec<String>,
    done: bool,
}

impl Default for DirectiveParser {
    fn default() -> Self {
        Self::new("#")
    }
}

impl DirectiveParser {
    /// A parser for directives written after `prefix` (`#`, or `//` for detection).
    pub fn new(prefix: &'static str) -> Self {
        DirectiveParser {
            prefix,
            line: 0,
            seen: Vec::new(),
            done: false,
        }
    }

    /// Whether the directive block has ended.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Looks at the next line (line ending removed); `Ok(Some(_))` for a directive.
    pub fn parse_line(&mut self, line: &str) -> Result<Option<Directive>, DirectiveError> {
        self.line += 1;
        if self.done {
            return Ok(None);
        }
        let Some(rest) = line.strip_prefix(self.prefix) else {
            self.done = true;
            return Ok(None);
        };
        let Some((key, value)) = split_directive(rest.trim_start()) else {
            self.done = true;
            return Ok(None);
        };
        let key = key.to_ascii_lowercase();
        if !DIRECTIVE_KEYS.contains(&key.as_str()) {
            self.done = true;
            return Ok(None);
        }
        if self.seen.contains(&key) {
            return Err(DirectiveError::Duplicate(key));
        }
        self.seen.push(key.clone());
        Ok(Some(Directive {
            name: key,
            value: value.to_string(),
            line: self.line,
        }))
    }
}

fn is_go_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\u{c}' | '\r' | ' ')
}

/// BuildKit's `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`, by hand because of the
/// lazy value: the value is trimmed, but is never empty (`key= ` gives `" "`).
fn split_directive(text: &str) -> Option<(&str, &str)> {
    let key_len = text
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_alphabetic() || (*i > 0 && c.is_ascii_digit())))
        .map_or(text.len(), |(i, _)| i);
    if key_len == 0 {
        return None;
    }
    let (key, rest) = text.split_at(key_len);
    let after = rest.trim_start_matches(is_go_space).strip_prefix('=')?;
    let value = after.trim_matches(is_go_space);
    if !value.is_empty() {
        return Some((key, value));
    }
    // Only blanks after `=`: the lazy group still takes the last one.
    let last = after.chars().last()?;
    Some((key, &after[after.len() - last.len_utf8()..]))
}

/// Finds the `syntax` directive as BuildKit's `DetectSyntax` does: `# syntax=`, then
/// `// syntax=`, then a JSON object's `"syntax"` key; a leading `#!` line is skipped.
pub fn detect_syntax(data: &str) -> Option<Directive> {
    let data = data.strip_prefix('\u{feff}').unwrap_or(data);
    let (data, first_line) = match data.split_once('\n') {
        Some((first, rest)) if first.starts_with("#!") => (rest, 1),
        None if data.starts_with("#!") => ("", 1),
        _ => (data, 0),
    };
    for prefix in ["#", "//"] {
        let mut parser = DirectiveParser::new(prefix);
        parser.line = first_line;
        for line in data.lines() {
            if parser.is_done() {
                break;
            }
            match parser.parse_line(line) {
                Ok(Some(d)) if d.name == "syntax" => {
                    let value = d.value.split(' ').next().unwrap_or_default().to_string();
                    return Some(Directive { value, ..d });
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
    let json: serde_json::Map<String, serde_json::Value> = serde_json::from_str(data).ok()?;
    let value = json.get("syntax")?.as_str()?;
    Some(Directive {
        name: "syntax".into(),
        value: value.to_string(),
        line: first_line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(lines: &[&str]) -> Result<Vec<(String, String, usize)>, DirectiveError> {
        let mut p = DirectiveParser::default();
        let mut out = vec![];
        for l in lines {
            if let Some(d) = p.parse_line(l)? {
                out.push((d.name, d.value, d.line));
            }
        }
        Ok(out)
    }

    #[test]
    fn directives_in_the_leading_block() {
        let got = parse_all(&[
            "# syntax = docker/dockerfile:1 ",
            "#ESCAPE=`",
            "#check=skip=all",
        ])
        .unwrap();
        assert_eq!(
            got,
            [
                ("syntax".into(), "docker/dockerfile:1".into(), 1),
                ("escape".into(), "`".into(), 2),
                ("check".into(), "skip=all".into(), 3),
            ]
        );
    }

    #[test]
    fn block_ends_at_first_non_directive() {
        assert!(parse_all(&["# comment", "# escape=`"]).unwrap().is_empty());
        assert!(parse_all(&["", "# escape=`"]).unwrap().is_empty());
        assert!(parse_all(&["# unknown=1", "# escape=`"])
            .unwrap()
            .is_empty());
        assert!(parse_all(&["FROM x", "# escape=`"]).unwrap().is_empty());
    }

    #[test]
    fn duplicates_are_an_error() {
        assert_eq!(
            parse_all(&["# escape=`", "# Escape=\\"]),
            Err(DirectiveError::Duplicate("escape".into()))
        );
    }

    #[test]
    fn lazy_value_quirk() {
        assert_eq!(split_directive("escape= "), Some(("escape", " ")));
        assert_eq!(split_directive("escape="), None);
        assert_eq!(split_directive("1x=a"), None);
        assert_eq!(split_directive("a1 \t= b c \t"), Some(("a1", "b c")));
    }

    #[test]
    fn detect_syntax_fallbacks() {
        let d = detect_syntax("#!/usr/bin/env x\n# syntax=foo/bar:1 --opt\nFROM a").unwrap();
        assert_eq!((d.value.as_str(), d.line), ("foo/bar:1", 2));
        assert_eq!(detect_syntax("// syntax = a/b\n").unwrap().value, "a/b");
        assert_eq!(detect_syntax("{\"syntax\": \"j/s\"}").unwrap().value, "j/s");
        assert!(detect_syntax("FROM a\n# syntax=x").is_none());
        // A blank line after the shebang ends the directive block.
        assert!(detect_syntax("#!/bin/sh\n\n# syntax=x\n").is_none());
        assert_eq!(detect_syntax("\u{feff}# syntax = mine\n").unwrap().line, 1);
        assert!(detect_syntax("{\"syntax\": \"foo\"}\n# syntax=bar").is_none());
        assert_eq!(
            detect_syntax("//syntax=foo\n//key=value").unwrap().value,
            "foo"
        );
    }
}
