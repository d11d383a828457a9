//! Heredoc markers: which words of a RUN/COPY/ADD line open a heredoc, with what
//! delimiter, file descriptor, tab stripping and expansion.
//!
//! API: [`parse_heredoc_marker`] (one word, e.g. `3<<-"EOF"`) and (crate-internal)
//! [`heredocs_from_line`].

use pest::Parser;

use super::ast::Heredoc;
use super::words::process_words;

#[derive(pest_derive::Parser)]
#[grammar = "parser/heredoc.pest"]
struct MarkerGrammar;

/// Why a marker could not be read (the lexer rejected the delimiter word).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarkerError {
    #[error("cannot read the delimiter {0:?} (unterminated quote or bad ${{...}})")]
    Unreadable(String),
}

/// Reads a heredoc marker word as BuildKit's `ParseHeredoc` does: `Ok(None)` when the
/// word is not a marker (no `<<`, an empty delimiter, or a delimiter of several words).
/// The returned heredoc has an empty `content`.
pub fn parse_heredoc_marker(word: &str) -> Result<Option<Heredoc>, MarkerError> {
    let Ok(mut pairs) = MarkerGrammar::parse(Rule::marker, word) else {
        return Ok(None);
    };
    let Some(marker) = pairs.next() else {
        return Ok(None);
    };
    let (mut fd, mut chomp, mut delimiter) = (0u32, false, "");
    for part in marker.into_inner() {
        match part.as_rule() {
            // Go ignores the parse error and uses 0 for overflowing descriptors.
            Rule::fd => fd = part.as_str().parse().unwrap_or(0),
            Rule::chomp => chomp = true,
            Rule::delimiter => delimiter = part.as_str(),
            _ => {}
        }
    }
    if delimiter.is_empty() {
        return Ok(None);
    }
    let unreadable = || MarkerError::Unreadable(delimiter.to_string());
    let words = process_words(delimiter, false, false).ok_or_else(unreadable)?;
    let [name] = words.as_slice() else {
        return Ok(None);
    };
    let raw = process_words(delimiter, true, false).ok_or_else(unreadable)?;
    let [raw_name] = raw.as_slice() else {
        return Err(unreadable());
    };
    // If quotes disappear when they are processed, part of the word was quoted, and a
    // quoted delimiter turns expansion of the body off.
    let quotes = |s: &str| s.chars().filter(|c| *c == '\'' || *c == '"').count();
    Ok(Some(Heredoc {
        name: name.clone(),
        content: String::new(),
        expand: quotes(name) == quotes(raw_name),
        chomp,
        fd,
    }))
}

/// The heredoc markers on a logical line, in order. A line the shell lexer cannot split
/// (say, an unterminated quote) has none, as in BuildKit.
pub fn heredocs_from_line(line: &str) -> Result<Vec<Heredoc>, MarkerError> {
    let words = process_words(line, true, true).unwrap_or_default();
    let mut docs = Vec::new();
    for word in words {
        if let Some(doc) = parse_heredoc_marker(&word)? {
            docs.push(doc);
        }
    }
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(w: &str) -> Option<(String, bool, bool, u32)> {
        parse_heredoc_marker(w)
            .ok()
            .flatten()
            .map(|h| (h.name, h.expand, h.chomp, h.fd))
    }

    #[test]
    fn plain_and_chomped_markers() {
        assert_eq!(marker("<<EOF"), Some(("EOF".into(), true, false, 0)));
        assert_eq!(marker("<<-EOF"), Some(("EOF".into(), true, true, 0)));
        assert_eq!(marker("<< EOF"), Some(("EOF".into(), true, false, 0)));
        assert_eq!(marker("3<<EOF"), Some(("EOF".into(), true, false, 3)));
    }

    #[test]
    fn quoted_delimiters_turn_expansion_off() {
        assert_eq!(marker("<<'EOF'"), Some(("EOF".into(), false, false, 0)));
        assert_eq!(marker("<<\"EOF\""), Some(("EOF".into(), false, false, 0)));
        assert_eq!(marker("<<-\"E\"OF"), Some(("EOF".into(), false, true, 0)));
    }

    #[test]
    fn non_markers() {
        assert_eq!(marker("EOF"), None);
        assert_eq!(marker("<<"), None);
        assert_eq!(marker("a<<EOF"), None);
        assert_eq!(marker("<<<EOF"), None);
        assert_eq!(marker("<<a<b"), None);
        assert_eq!(marker("<<'a b'"), Some(("a b".into(), false, false, 0)));
    }

    #[test]
    fn several_markers_on_one_line() {
        let docs = heredocs_from_line("COPY <<FILE1 <<-'FILE2' /dest/").unwrap();
        let names: Vec<_> = docs
            .iter()
            .map(|d| (d.name.as_str(), d.chomp, d.expand))
            .collect();
        assert_eq!(names, [("FILE1", false, true), ("FILE2", true, false)]);
        assert!(heredocs_from_line("RUN echo \"<<EOF").unwrap().is_empty());
    }
}
