//! The exec-form test of BuildKit's `parseJSON`: is the text a JSON array of strings,
//! as Go's `encoding/json` would decide?
//!
//! API: [`parse_json_array`] returning [`JsonArray`].
//!
//! Written by hand rather than with serde_json so that the edge cases fall on the same
//! side as Go's: nesting up to 10,000 levels, lone surrogates decoded as U+FFFD,
//! numbers that overflow a float64 making the whole text "not JSON" (shell form), and
//! syntax errors taking precedence over type errors.

/// What the argument text is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonArray {
    /// A valid JSON array whose elements are all strings (decoded).
    Strings(Vec<String>),
    /// Valid JSON array with a non-string element: a hard error in BuildKit.
    NotStringArray,
    /// Not a JSON array at all: BuildKit falls back to the shell form.
    Invalid,
}

/// Go's `encoding/json` maximum nesting depth.
const MAX_DEPTH: usize = 10_000;

/// Decides whether `rest` (leading whitespace allowed) is a JSON array of strings.
pub fn parse_json_array(rest: &str) -> JsonArray {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return JsonArray::Invalid;
    }
    let mut s = Scanner {
        b: rest.as_bytes(),
        pos: 1,
        overflow: false,
    };
    let mut strings = Vec::new();
    let mut all_strings = true;
    s.ws();
    if s.peek() == Some(b']') {
        s.pos += 1;
    } else {
        loop {
            s.ws();
            if s.peek() == Some(b'"') {
                match s.string() {
                    Some(v) => strings.push(v),
                    None => return JsonArray::Invalid,
                }
            } else {
                if s.skip_value().is_none() {
                    return JsonArray::Invalid;
                }
                all_strings = false;
            }
            s.ws();
            match s.next() {
                Some(b',') => continue,
                Some(b']') => break,
                _ => return JsonArray::Invalid,
            }
        }
    }
    s.ws();
    if s.pos != s.b.len() {
        return JsonArray::Invalid;
    }
    if s.overflow {
        // Go reports an UnmarshalTypeError, which is not the "strings only" error.
        return JsonArray::Invalid;
    }
    if all_strings {
        JsonArray::Strings(strings)
    } else {
        JsonArray::NotStringArray
    }
}

struct Scanner<'a> {
    b: &'a [u8],
    pos: usize,
    overflow: bool,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.pos.checked_add(word.len())?;
        (self.b.get(self.pos..end)? == word).then(|| self.pos = end)
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Option<()> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return None;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        let text = std::str::from_utf8(&self.b[start..self.pos]).ok()?;
        if text.parse::<f64>().map_or(true, |f| f.is_infinite()) {
            self.overflow = true;
        }
        Some(())
    }

    fn hex4(&mut self) -> Option<u32> {
        let end = self.pos.checked_add(4)?;
        let digits = std::str::from_utf8(self.b.get(self.pos..end)?).ok()?;
        let v = u32::from_str_radix(digits, 16).ok()?;
        if !digits.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        self.pos = end;
        Some(v)
    }

    /// A string starting at `"`, decoded.
    fn string(&mut self) -> Option<String> {
        self.expect(b'"')?;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let c = self.next()?;
            match c {
                b'"' => break,
                b'\\' => {
                    let e = self.next()?;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return None,
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                c if c < 0x20 => return None,
                c => out.push(c),
            }
        }
        // Only whole UTF-8 sequences and encoded chars were pushed.
        Some(String::from_utf8_lossy(&out).into_owned())
    }

    fn unicode_escape(&mut self) -> Option<char> {
        let first = self.hex4()?;
        if !(0xd800..0xe000).contains(&first) {
            return char::from_u32(first);
        }
        // A surrogate: valid only as a high one followed by an escaped low one.
        if first < 0xdc00 && self.b.get(self.pos..self.pos + 2) == Some(b"\\u") {
            let save = self.pos;
            self.pos += 2;
            if let Some(second) = self.hex4() {
                if (0xdc00..0xe000).contains(&second) {
                    let c = 0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00);
                    return char::from_u32(c);
                }
            }
            self.pos = save;
        }
        Some('\u{fffd}')
    }

    /// Skips any JSON value, without recursion, checking syntax and nesting depth.
    fn skip_value(&mut self) -> Option<()> {
        // Containers currently open below the top-level array.
        let mut stack: Vec<u8> = Vec::new();
        loop {
            self.ws();
            let mut complete = true;
            match self.peek()? {
                open @ (b'[' | b'{') => {
                    self.pos += 1;
                    if stack.len() + 2 > MAX_DEPTH {
                        return None;
                    }
                    stack.push(open);
                    self.ws();
                    let close = if open == b'[' { b']' } else { b'}' };
                    if self.peek() == Some(close) {
                        self.pos += 1;
                        stack.pop();
                    } else {
                        if open == b'{' {
                            self.member_key()?;
                        }
                        complete = false;
                    }
                }
                b'"' => {
                    self.string()?;
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                b'-' | b'0'..=b'9' => self.number()?,
                _ => return None,
            }
            if !complete {
                continue;
            }
            // A value is done: close containers until one wants another value.
            loop {
                let Some(&top) = stack.last() else {
                    return Some(());
                };
                self.ws();
                match (self.next()?, top) {
                    (b',', b'{') => {
                        self.ws();
                        self.member_key()?;
                        break;
                    }
                    (b',', _) => break,
                    (b']', b'[') | (b'}', b'{') => {
                        stack.pop();
                    }
                    _ => return None,
                }
            }
        }
    }

    fn member_key(&mut self) -> Option<()> {
        self.string()?;
        self.ws();
        self.expect(b':')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> JsonArray {
        JsonArray::Strings(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn arrays_of_strings() {
        assert_eq!(parse_json_array("[]"), strings(&[]));
        assert_eq!(
            parse_json_array(" [ \"a\" ,\t\"b\" ] "),
            strings(&["a", "b"])
        );
        assert_eq!(
            parse_json_array(r#"["\" \\ \/ \b \f \n \r \t \u0000 \u2665"]"#),
            strings(&["\" \\ / \u{8} \u{c} \n \r \t \0 ♥"])
        );
    }

    #[test]
    fn surrogates_as_go_decodes_them() {
        assert_eq!(parse_json_array(r#"["\ud83d\ude00"]"#), strings(&["😀"]));
        assert_eq!(parse_json_array(r#"["\ud83dx"]"#), strings(&["\u{fffd}x"]));
        assert_eq!(parse_json_array(r#"["\ude00"]"#), strings(&["\u{fffd}"]));
    }

    #[test]
    fn non_strings_are_an_error_once_syntax_is_valid() {
        assert_eq!(parse_json_array(r#"["a", 1]"#), JsonArray::NotStringArray);
        assert_eq!(
            parse_json_array(r#"[ "echo", [ "nested json" ] ]"#),
            JsonArray::NotStringArray
        );
        assert_eq!(
            parse_json_array(r#"[{"a": [1, {}]}, null, true]"#),
            JsonArray::NotStringArray
        );
        // Syntax errors win over type errors.
        assert_eq!(parse_json_array(r#"[1, "a""#), JsonArray::Invalid);
        // Overflowing numbers are an unmarshal error in Go, not the strings-only error.
        assert_eq!(parse_json_array("[1e999]"), JsonArray::Invalid);
    }

    #[test]
    fn invalid_json_falls_back() {
        for text in [
            "['a']",
            "[\"a\"",
            "[\"a]",
            "[\"a\",]",
            "[01]",
            "[\"a\"] x",
            "[\"\u{1}\"]",
            "[\"\\x\"]",
            "[1.]",
            "echo [\"a\"]",
        ] {
            assert_eq!(parse_json_array(text), JsonArray::Invalid, "{text}");
        }
    }

    #[test]
    fn deep_nesting_is_bounded_without_recursion() {
        let ok = format!("[{}{}]", "[".repeat(9_998), "]".repeat(9_998));
        assert_eq!(parse_json_array(&ok), JsonArray::NotStringArray);
        let deep = format!("[{}{}]", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(parse_json_array(&deep), JsonArray::Invalid);
    }
}
