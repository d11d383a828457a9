//! The Dockerfile text split into physical lines, checked for what the parser cannot
//! take (invalid UTF-8, NUL bytes, over-long lines), and turned into error locations.
//!
//! API (crate-internal): [`Source::new`], [`Source::lines`], [`Source::at`],
//! [`Source::at_text`].

use super::error::{Location, ParseError};

/// BuildKit reads lines with Go's `bufio.Scanner`, whose token limit is 64 KiB.
pub const MAX_LINE_LEN: usize = 65535;

pub struct Source<'a> {
    file: &'a str,
    lines: Vec<&'a str>,
}

impl<'a> Source<'a> {
    /// Checks `data` and splits it into lines that keep their `\n`.
    pub fn new(file: &'a str, data: &'a [u8]) -> Result<Source<'a>, ParseError> {
        let text = match std::str::from_utf8(data) {
            Ok(t) => t,
            Err(e) => {
                let at = e.valid_up_to();
                return Err(ParseError::InvalidUtf8 {
                    at: byte_location(file, data, at),
                    byte: data.get(at).copied().unwrap_or(0),
                });
            }
        };
        if let Some(at) = text.bytes().position(|b| b == 0) {
            return Err(ParseError::NulByte {
                at: byte_location(file, data, at),
            });
        }
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        for (i, line) in lines.iter().enumerate() {
            let len = line.strip_suffix('\n').unwrap_or(line).len();
            if len > MAX_LINE_LEN {
                let mut at = line_location(file, i + 1, line, MAX_LINE_LEN + 1);
                at.column = line
                    .char_indices()
                    .take_while(|(b, _)| *b <= MAX_LINE_LEN)
                    .count();
                // Do not print 64 KiB of line under the error.
                at.text = line.chars().take(at.column).collect();
                return Err(ParseError::LineTooLong { at, len });
            }
        }
        Ok(Source { file, lines })
    }

    /// The physical lines, each with its `\n` (the last one may lack it).
    pub fn lines(&self) -> &[&'a str] {
        &self.lines
    }

    /// A location at a 1-based line and 1-based character column.
    pub fn at(&self, line: usize, column: usize) -> Location {
        let text = line
            .checked_sub(1)
            .and_then(|i| self.lines.get(i))
            .copied()
            .unwrap_or("");
        let text = text.trim_end_matches(['\r', '\n']);
        Location {
            file: self.file.to_string(),
            line,
            column: column.max(1),
            text: text.to_string(),
        }
    }

    /// A location at the first occurrence of `needle` on `line` (at its first
    /// non-blank character when `needle` is not there).
    pub fn at_text(&self, line: usize, needle: &str) -> Location {
        let mut at = self.at(line, 1);
        let byte = if needle.is_empty() {
            None
        } else {
            at.text.find(needle)
        };
        let byte = byte.unwrap_or_else(|| at.text.len() - at.text.trim_start().len());
        at.column = at.text[..byte].chars().count() + 1;
        at
    }

    /// A location at the end of `line`'s text (where something was expected).
    pub fn at_end(&self, line: usize) -> Location {
        let mut at = self.at(line, 1);
        at.column = at.text.trim_end().chars().count() + 1;
        at
    }
}

fn line_location(file: &str, line: usize, text: &str, column: usize) -> Location {
    Location {
        file: file.to_string(),
        line,
        column,
        text: text.trim_end_matches(['\r', '\n']).to_string(),
    }
}

/// The location of byte offset `at` in possibly invalid `data`.
fn byte_location(file: &str, data: &[u8], at: usize) -> Location {
    let at = at.min(data.len());
    let line_start = data[..at]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |p| p + 1);
    let line = data[..line_start].iter().filter(|b| **b == b'\n').count() + 1;
    let line_end = data[at..]
        .iter()
        .position(|b| *b == b'\n')
        .map_or(data.len(), |p| at + p);
    let before = String::from_utf8_lossy(&data[line_start..at]);
    let text = String::from_utf8_lossy(&data[line_start..line_end]);
    line_location(file, line, &text, before.chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_is_located() {
        let err = Source::new("Dockerfile", b"FROM a\nRUN \xff\n").err();
        match err {
            Some(ParseError::InvalidUtf8 { at, byte }) => {
                assert_eq!((at.line, at.column, byte), (2, 5, 0xff));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn nul_byte_is_located() {
        match Source::new("f", b"FROM a\n\nRUN x\0y").err() {
            Some(ParseError::NulByte { at }) => assert_eq!((at.line, at.column), (3, 6)),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn line_limit_is_65535_bytes() {
        let ok = format!("RUN {}\n", "a".repeat(MAX_LINE_LEN - 4));
        assert!(Source::new("f", ok.as_bytes()).is_ok());
        let long = format!("RUN {}\n", "a".repeat(MAX_LINE_LEN - 3));
        assert!(matches!(
            Source::new("f", long.as_bytes()),
            Err(ParseError::LineTooLong { len: 65536, .. })
        ));
    }

    #[test]
    fn at_text_finds_the_needle() {
        let src = Source::new("f", b"FROM a\nCOPY  <<EOF /x\n").unwrap();
        let at = src.at_text(2, "<<EOF");
        assert_eq!((at.line, at.column), (2, 7));
        assert_eq!(src.at_text(2, "zzz").column, 1);
    }
}
