//! The shell patterns of `${V#p}`, `${V%p}` and `${V/p/r}`, read exactly as BuildKit reads
//! them: `*` is any run of characters, `?` any one character (neither crosses a newline,
//! as in Go's regexp), `\` escapes `*`, `?` and `\`, `\}` and `\/` stand for `}` and `/`,
//! and everything else (including `[`) is literal. BuildKit has no bracket expressions.

use super::chars::{is_digit, is_letter};
use super::error::ShellErrorKind;
use super::matcher::Matcher;

/// One element of a parsed pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Item {
    Lit(char),
    /// `?`: any character but a newline.
    Any,
    /// `*`: any run of characters without a newline.
    Star,
}

/// A parsed pattern; consecutive stars are merged (they match the same spans).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Pattern {
    items: Vec<Item>,
}

/// A backslash followed by something it cannot escape (`None`: by the end of the pattern).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BadEscape {
    escaped: Option<char>,
}

impl BadEscape {
    pub(super) fn into_kind(self, pattern: &str) -> ShellErrorKind {
        ShellErrorKind::InvalidPattern {
            pattern: pattern.to_owned(),
            escaped: self.escaped.map(String::from).unwrap_or_default(),
        }
    }
}

impl Pattern {
    pub(super) fn parse(text: &str) -> Result<Pattern, BadEscape> {
        // Go's text/scanner, which BuildKit reads patterns with, drops a leading BOM.
        let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
        let mut items = Vec::with_capacity(text.len());
        let mut chars = text.chars().peekable();
        while let Some(ch) = chars.next() {
            let item = match ch {
                '*' if items.last() == Some(&Item::Star) => continue,
                '*' => Item::Star,
                '?' => Item::Any,
                // `}` and `/` had to be escaped to get through `${...}`; the escape
                // is not part of the pattern.
                '\\' if matches!(chars.peek(), Some('}' | '/')) => continue,
                '\\' => match chars.next() {
                    Some(c @ ('*' | '?' | '\\')) => Item::Lit(c),
                    other => return Err(BadEscape { escaped: other }),
                },
                c => Item::Lit(c),
            };
            items.push(item);
        }
        Ok(Pattern { items })
    }

    /// `${V/p/r}`: the leftmost match replaced by `replacement`, taken literally.
    pub(super) fn replace_first(&self, value: &str, replacement: &str) -> String {
        match find_from(&mut Matcher::new(&self.items, false), value, 0) {
            Some((start, end)) => {
                let mut out = String::with_capacity(value.len() + replacement.len());
                out.push_str(value.get(..start).unwrap_or_default());
                out.push_str(replacement);
                out.push_str(value.get(end..).unwrap_or_default());
                out
            }
            None => value.to_owned(),
        }
    }

    /// `${V//p/r}`: every match replaced, walking the value as Go's `ReplaceAllString` does
    /// (an empty match right after a match is skipped; the search always advances), with
    /// `replacement` read as a Go regexp template: `$0`/`${0}` is the match, `$$` a `$`,
    /// any other `$name` nothing.
    pub(super) fn replace_all(&self, value: &str, replacement: &str) -> String {
        let mut matcher = Matcher::new(&self.items, false);
        let mut out = String::with_capacity(value.len());
        let mut last_end = 0;
        let mut search = 0;
        while search <= value.len() {
            let Some((start, end)) = find_from(&mut matcher, value, search) else {
                break;
            };
            out.push_str(value.get(last_end..start).unwrap_or_default());
            if end > last_end || start == 0 {
                expand_template(
                    &mut out,
                    replacement,
                    value.get(start..end).unwrap_or_default(),
                );
            }
            last_end = end;
            let width = value
                .get(search..)
                .and_then(|rest| rest.chars().next())
                .map_or(0, char::len_utf8);
            search = if search + width > end {
                search + width
            } else if search + 1 > end {
                search + 1
            } else {
                end
            };
        }
        out.push_str(value.get(last_end..).unwrap_or_default());
        out
    }
}

/// The leftmost-first (Perl/Go) match starting at or after byte `from`.
fn find_from(matcher: &mut Matcher<'_>, value: &str, from: usize) -> Option<(usize, usize)> {
    let rest = value.get(from..)?;
    let chars = rest.char_indices().map(|(i, c)| (from + i, c));
    matcher.find(false, chars, value.len())
}

/// `${V#p}` (shortest) and `${V##p}` (longest): the value without the prefix `p` matches.
pub(super) fn trim_prefix(pattern: &str, value: &str, longest: bool) -> Result<String, BadEscape> {
    let parsed = Pattern::parse(pattern)?;
    let chars = value.char_indices();
    Ok(
        match Matcher::new(&parsed.items, !longest).find(true, chars, value.len()) {
            Some((_, end)) => value.get(end..).unwrap_or_default().to_owned(),
            None => value.to_owned(),
        },
    )
}

/// `${V%p}` and `${V%%p}`. Like BuildKit, the pattern text is reversed (keeping each
/// backslash before the character it escapes) and matched from the end of the value.
pub(super) fn trim_suffix(pattern: &str, value: &str, longest: bool) -> Result<String, BadEscape> {
    let parsed = Pattern::parse(&reverse(pattern))?;
    let len = value.len();
    let chars = value
        .char_indices()
        .rev()
        .map(|(i, c)| (len - i - c.len_utf8(), c));
    Ok(
        match Matcher::new(&parsed.items, !longest).find(true, chars, len) {
            Some((_, from_end)) => value.get(..len - from_end).unwrap_or_default().to_owned(),
            None => value.to_owned(),
        },
    )
}

/// Reverses pattern text, keeping `\x` pairs in order: `a\*c` becomes `c\*a`.
fn reverse(pattern: &str) -> String {
    let mut units: Vec<(char, Option<char>)> = Vec::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(ch) = chars.next() {
        let escaped = if ch == '\\' { chars.next() } else { None };
        units.push((ch, escaped));
    }
    let mut out = String::with_capacity(pattern.len());
    for (ch, escaped) in units.into_iter().rev() {
        out.push(ch);
        out.extend(escaped);
    }
    out
}

fn expand_template(out: &mut String, template: &str, matched: &str) {
    let mut rest = template;
    while let Some((before, after_dollar)) = rest.split_once('$') {
        out.push_str(before);
        rest = after_dollar;
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        match template_name(rest) {
            Some((name, after)) => {
                // The pattern has no groups: only group 0, the whole match, exists.
                if name == "0" {
                    out.push_str(matched);
                }
                rest = after;
            }
            None => out.push('$'),
        }
    }
    out.push_str(rest);
}

/// The `name` or `{name}` after a `$` in a template, and the text after it.
fn template_name(text: &str) -> Option<(&str, &str)> {
    let (braced, body) = match text.strip_prefix('{') {
        Some(body) => (true, body),
        None => (false, text),
    };
    let len = body
        .char_indices()
        .find(|&(_, c)| !(is_letter(c) || is_digit(c) || c == '_'))
        .map_or(body.len(), |(i, _)| i);
    if len == 0 {
        return None;
    }
    let (name, after) = body.split_at(len);
    if braced {
        return Some((name, after.strip_prefix('}')?));
    }
    Some((name, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(text: &str) -> Vec<Item> {
        Pattern::parse(text).map(|p| p.items).unwrap_or_default()
    }

    #[test]
    fn parses_wildcards_escapes_and_literals() {
        use Item::*;
        assert_eq!(items("a**?"), [Lit('a'), Star, Any]);
        assert_eq!(items("\\*\\?\\\\"), [Lit('*'), Lit('?'), Lit('\\')]);
        assert_eq!(items("\\}\\/"), [Lit('}'), Lit('/')]);
        assert_eq!(items("[.]"), [Lit('['), Lit('.'), Lit(']')]);
        assert_eq!(items("\u{feff}x\u{feff}"), [Lit('x'), Lit('\u{feff}')]);
        for bad in ["\\", "\\x", "\\\\\\", "a\\b"] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reverses_keeping_escape_pairs() {
        assert_eq!(reverse("a\\*c"), "c\\*a");
        assert_eq!(reverse("\\\\\\ab"), "b\\a\\\\");
        assert_eq!(reverse("ab\\"), "\\ba");
        assert_eq!(reverse("👽\\🚀🖖"), "🖖\\🚀👽");
        assert_eq!(reverse("\\\\b"), "b\\\\");
        assert_eq!(reverse(""), "");
    }

    #[test]
    fn lazy_and_greedy_trims() {
        let trim = |p: &str, v: &str, longest| trim_prefix(p, v, longest).unwrap_or_default();
        assert_eq!(trim("*x*y", "xxyy", false), "y");
        assert_eq!(trim("*x*y", "xxyy", true), "");
        assert_eq!(trim("?", "", false), "");
        let trim = |p: &str, v: &str, longest| trim_suffix(p, v, longest).unwrap_or_default();
        assert_eq!(trim("x*", "axbxc", false), "axb");
        assert_eq!(trim("x*", "axbxc", true), "a");
        assert_eq!(trim("*", "a\nb", true), "a\n");
    }

    #[test]
    fn templates() {
        let expand = |t: &str| {
            let mut out = String::new();
            expand_template(&mut out, t, "M");
            out
        };
        assert_eq!(expand("<$0>"), "<M>");
        assert_eq!(expand("${0}${0"), "M${0");
        assert_eq!(expand("$$0 $00 $1 $x_1y $ $"), "$0    $ $");
        assert_eq!(expand("${}"), "${}");
        assert_eq!(expand("$0한"), "");
        assert_eq!(expand("$"), "$");
    }

    #[test]
    fn replace_all_walks_like_go() {
        let pattern = |p: &str| Pattern::parse(p).unwrap_or(Pattern { items: vec![] });
        assert_eq!(pattern("").replace_all("ab", "-"), "-a-b-");
        assert_eq!(pattern("x*").replace_all("abxxc", "-"), "ab-");
        assert_eq!(pattern("?").replace_all("한국", "[$0]"), "[한][국]");
        assert_eq!(pattern("a").replace_first("banana", "$0"), "b$0nana");
    }
}
