//! Character classes as Go's `unicode` package defines them, and the cursor the lexer reads
//! words with. BuildKit decides names and word boundaries with Go's classes, so we must too:
//! Rust's `is_alphabetic`/`is_numeric` are broader (they include combining marks and
//! non-decimal numbers), which would change where a `$name` ends.

use unicode_general_category::{get_general_category, GeneralCategory as Gc};

/// Go's `unicode.IsLetter`: general category L (Lu, Ll, Lt, Lm, Lo).
pub(super) fn is_letter(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    matches!(
        get_general_category(c),
        Gc::UppercaseLetter
            | Gc::LowercaseLetter
            | Gc::TitlecaseLetter
            | Gc::ModifierLetter
            | Gc::OtherLetter
    )
}

/// Go's `unicode.IsDigit`: general category Nd.
pub(super) fn is_digit(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_digit();
    }
    get_general_category(c) == Gc::DecimalNumber
}

/// Go's `unicode.IsSpace`; both it and Rust use Unicode's White_Space property.
pub(super) fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// Reads a word one character at a time, like Go's `text/scanner` used with `Peek`/`Next`.
pub(super) struct Cursor<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// Starts at the beginning of `src`, skipping one leading byte-order mark as
    /// `text/scanner` does (BuildKit inherits that).
    pub(super) fn new(src: &'a str) -> Cursor<'a> {
        let pos = if src.starts_with('\u{FEFF}') {
            '\u{FEFF}'.len_utf8()
        } else {
            0
        };
        Cursor { src, pos }
    }

    pub(super) fn peek(&self) -> Option<char> {
        self.src
            .get(self.pos..)
            .and_then(|rest| rest.chars().next())
    }

    pub(super) fn next(&mut self) -> Option<char> {
        let ch = self.peek()?;
        self.pos += ch.len_utf8();
        Some(ch)
    }

    /// Byte offset of the next character.
    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }
}
