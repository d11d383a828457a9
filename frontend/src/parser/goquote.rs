//! Go's `strconv.Quote` and `fmt`'s `%q` of a `[]string`, reproduced exactly, because
//! BuildKit's AST dump (and so its conformance `result` files) is written with them.
//!
//! API: [`quote`] (one string) and [`quote_list`] (`["a" "b"]`).

use unicode_general_category::{get_general_category, GeneralCategory as Gc};

/// Quotes `s` as Go's `strconv.Quote` does: double quotes, `\"` and `\\` escaped,
/// printable runes kept as they are, the rest as `\a \b \f \n \r \t \v`, `\xNN`,
/// `\uNNNN` or `\UNNNNNNNN` (lowercase hex).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        push_escaped(&mut out, c);
    }
    out.push('"');
    out
}

/// Formats a list as Go's `fmt.Sprintf("%q", []string{...})`: `["a" "b"]`.
pub fn quote_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", quoted.join(" "))
}

fn push_escaped(out: &mut String, c: char) {
    if c == '"' || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    if is_print(c) {
        out.push(c);
        return;
    }
    match c {
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => {
            out.push_str(&format!("\\x{:02x}", c as u32));
        }
        c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII
/// space. Other spaces, controls, format characters, surrogates, private-use and
/// unassigned code points are not printable.
pub fn is_print(c: char) -> bool {
    let r = c as u32;
    if r <= 0xff {
        // Go's fast path for Latin-1, which excludes the soft hyphen.
        return (0x20..=0x7e).contains(&r) || ((0xa1..=0xff).contains(&r) && r != 0xad);
    }
    !matches!(
        get_general_category(c),
        Gc::SpaceSeparator
            | Gc::LineSeparator
            | Gc::ParagraphSeparator
            | Gc::Control
            | Gc::Format
            | Gc::Surrogate
            | Gc::PrivateUse
            | Gc::Unassigned
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ascii_is_kept() {
        assert_eq!(quote("hello world"), "\"hello world\"");
        assert_eq!(quote(""), "\"\"");
    }

    #[test]
    fn quotes_and_backslashes_are_escaped() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
        // A single quote is printable and stays as it is.
        assert_eq!(quote("it's"), "\"it's\"");
    }

    #[test]
    fn named_control_escapes() {
        assert_eq!(
            quote("\u{7}\u{8}\u{c}\n\r\t\u{b}"),
            "\"\\a\\b\\f\\n\\r\\t\\v\""
        );
    }

    #[test]
    fn other_controls_use_lowercase_hex() {
        assert_eq!(quote("\0"), "\"\\x00\"");
        assert_eq!(quote("\u{1b}"), "\"\\x1b\"");
        assert_eq!(quote("\u{7f}"), "\"\\x7f\"");
        // C1 controls are above 0x7f, so Go writes them as \u.
        assert_eq!(quote("\u{85}"), "\"\\u0085\"");
    }

    #[test]
    fn printable_unicode_is_literal() {
        assert_eq!(quote("♥☃é"), "\"♥☃é\"");
        assert_eq!(quote("日本"), "\"日本\"");
        assert_eq!(quote("😀"), "\"😀\"");
    }

    #[test]
    fn non_printable_unicode_is_escaped() {
        assert_eq!(quote("\u{a0}"), "\"\\u00a0\"");
        assert_eq!(quote("\u{ad}"), "\"\\u00ad\"");
        assert_eq!(quote("\u{200b}"), "\"\\u200b\"");
        assert_eq!(quote("\u{2028}"), "\"\\u2028\"");
        assert_eq!(quote("\u{feff}"), "\"\\ufeff\"");
        assert_eq!(quote("\u{e000}"), "\"\\ue000\"");
        assert_eq!(quote("\u{f0000}"), "\"\\U000f0000\"");
    }

    #[test]
    fn list_formatting_matches_go() {
        let items = vec!["--user=me".to_string(), "--doit=true".to_string()];
        assert_eq!(quote_list(&items), r#"["--user=me" "--doit=true"]"#);
        assert_eq!(quote_list(&[]), "[]");
    }
}
