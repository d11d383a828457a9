//! The word splitting BuildKit's parser borrows from its shell lexer to find heredoc
//! markers: `ProcessWords` with an empty environment and `SkipUnsetEnv`, so variable
//! references come back as written. Quotes and escapes can be kept raw or removed.
//!
//! API (crate-internal): [`process_words`].

/// Splits `src` into shell words. `raw_quotes` keeps quote characters in the words,
/// `raw_escapes` keeps escape characters. `None` when the lexer would fail (unterminated
/// quotes, bad `${...}` substitutions), which BuildKit treats as "no words".
pub fn process_words(src: &str, raw_quotes: bool, raw_escapes: bool) -> Option<Vec<String>> {
    let mut lx = Lexer {
        chars: src.chars().collect(),
        pos: 0,
        raw_quotes,
        raw_escapes,
        depth: 0,
    };
    lx.process_stop_on(None).map(|(_, words)| words)
}

const ESCAPE: char = '\\';

/// How deeply `${a:-${b:-...}}` may nest before the line counts as unreadable; keeps
/// the recursion far from the stack's end on hostile input.
const MAX_DEPTH: usize = 128;

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    raw_quotes: bool,
    raw_escapes: bool,
    depth: usize,
}

#[derive(Default)]
struct Words {
    buf: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, c: char) {
        if c.is_whitespace() {
            if self.in_word && !self.buf.is_empty() {
                self.words.push(std::mem::take(&mut self.buf));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(c);
        }
    }
    fn add_raw_char(&mut self, c: char) {
        self.buf.push(c);
        self.in_word = true;
    }
    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }
    fn add_raw_string(&mut self, s: &str) {
        self.buf.push_str(s);
        self.in_word = true;
    }
    fn finish(mut self) -> Vec<String> {
        if !self.buf.is_empty() {
            self.words.push(self.buf);
        }
        self.words
    }
}

impl Lexer {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    /// Processes until `stop` (consumed) or the end; returns the text and its words.
    fn process_stop_on(&mut self, stop: Option<char>) -> Option<(String, Vec<String>)> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.pos += 1;
                return Some((result, words.finish()));
            }
            match c {
                '$' | '<' | '\'' | '"' => {
                    let piece = match c {
                        '$' => self.dollar()?,
                        '<' => self.possible_heredoc(),
                        '\'' => self.single_quote()?,
                        _ => self.double_quote()?,
                    };
                    result.push_str(&piece);
                    if c == '$' {
                        words.add_string(&piece);
                    } else {
                        words.add_raw_string(&piece);
                    }
                }
                _ => {
                    self.pos += 1;
                    if c == ESCAPE {
                        if self.raw_escapes {
                            words.add_raw_char(c);
                            result.push(c);
                        }
                        let Some(escaped) = self.next() else { break };
                        words.add_raw_char(escaped);
                        result.push(escaped);
                    } else {
                        words.add_char(c);
                        result.push(c);
                    }
                }
            }
        }
        if stop.is_some() {
            return None;
        }
        Some((result, words.finish()))
    }

    fn single_quote(&mut self) -> Option<String> {
        let mut out = String::new();
        let open = self.next()?;
        if self.raw_quotes {
            out.push(open);
        }
        loop {
            let c = self.next()?;
            if c == '\'' {
                if self.raw_quotes {
                    out.push(c);
                }
                return Some(out);
            }
            out.push(c);
        }
    }

    fn double_quote(&mut self) -> Option<String> {
        let mut out = String::new();
        let open = self.next()?;
        if self.raw_quotes {
            out.push(open);
        }
        loop {
            match self.peek()? {
                '"' => {
                    self.pos += 1;
                    if self.raw_quotes {
                        out.push('"');
                    }
                    return Some(out);
                }
                '$' => out.push_str(&self.dollar()?),
                _ => {
                    let mut c = self.next()?;
                    if c == ESCAPE {
                        if self.raw_escapes {
                            out.push(c);
                        }
                        match self.peek() {
                            None => continue,
                            Some('"' | '$' | ESCAPE) => c = self.next()?,
                            Some(_) => {}
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    fn possible_heredoc(&mut self) -> String {
        self.pos += 1;
        if self.peek() != Some('<') {
            return "<".into();
        }
        self.pos += 1;
        let mut out = String::from("<<");
        while let Some(c) = self.peek().filter(|c| matches!(c, ' ' | '\t' | '\r')) {
            out.push(c);
            self.pos += 1;
        }
        out
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && c.is_numeric() {
                while let Some(d) = self.peek().filter(|d| d.is_numeric()) {
                    name.push(d);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.pos += 1;
                return c.to_string();
            }
            if !c.is_alphabetic() && !c.is_numeric() && c != '_' {
                break;
            }
            name.push(c);
            self.pos += 1;
        }
        name
    }

    /// `$...` with every variable unset: the reference comes back as written.
    fn dollar(&mut self) -> Option<String> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            return Some(format!("${name}"));
        }
        self.pos += 1;
        match self.peek() {
            None | Some('{' | '}' | ':') => return None,
            Some(_) => {}
        }
        let name = self.name();
        let c = self.next()?;
        match c {
            '}' => Some(format!("${{{name}}}")),
            ':' | '+' | '-' | '?' | '#' | '%' => {
                let mut modifier = c.to_string();
                let mut op = c;
                if c == ':' {
                    // Any character may follow `:` here (Go falls through); only the
                    // pattern operators are refused.
                    op = self.next()?;
                    modifier.push(op);
                    if matches!(op, '#' | '%') {
                        return None;
                    }
                }
                let raw = op == '#' || op == '%';
                let word = self.scoped(raw, |lx| lx.process_stop_on(Some('}')))?.0;
                Some(format!("${{{name}{modifier}{word}}}"))
            }
            '/' => {
                if self.peek() == Some('/') {
                    self.pos += 1;
                }
                let pattern = self.scoped(true, |lx| lx.process_stop_on(Some('/')))?.0;
                let replacement = self.scoped(true, |lx| lx.process_stop_on(Some('}')))?.0;
                Some(format!("${{{name}/{pattern}/{replacement}}}"))
            }
            _ => None,
        }
    }

    /// Runs a nested `process_stop_on` with `raw_escapes` set, within the depth limit.
    fn scoped<T>(
        &mut self,
        raw_escapes: bool,
        f: impl FnOnce(&mut Self) -> Option<T>,
    ) -> Option<T> {
        if self.depth >= MAX_DEPTH {
            return None;
        }
        let saved = self.raw_escapes;
        self.raw_escapes = raw_escapes;
        self.depth += 1;
        let out = f(self);
        self.depth -= 1;
        self.raw_escapes = saved;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        process_words(s, true, true).unwrap_or_default()
    }

    #[test]
    fn splits_and_keeps_raw_text() {
        assert_eq!(words("cat <<EOF > /x"), ["cat", "<<EOF", ">", "/x"]);
        assert_eq!(words(r#"a "b c" 'd e'"#), ["a", "\"b c\"", "'d e'"]);
        assert_eq!(words(r"a\ b"), [r"a\ b"]);
        assert_eq!(words("<< EOF"), ["<< EOF"]);
        assert_eq!(words("$X ${Y:-a b}"), ["$X", "${Y:-a", "b}"]);
    }

    #[test]
    fn quotes_removed_when_not_raw() {
        assert_eq!(
            process_words(r#""EOF""#, false, false),
            Some(vec!["EOF".into()])
        );
        assert_eq!(
            process_words(r#"E\"OF"#, false, false),
            Some(vec!["E\"OF".into()])
        );
    }

    #[test]
    fn lexer_failures_give_none() {
        assert_eq!(process_words("echo \"abc", true, true), None);
        assert_eq!(process_words("echo ${", true, true), None);
        assert_eq!(process_words("echo ${}", true, true), None);
        assert_eq!(process_words("echo ${a:#b}", true, true), None);
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let deep = format!("{}x{}", "${a:-".repeat(20_000), "}".repeat(20_000));
        assert_eq!(process_words(&deep, true, true), None);
        let ok = format!("{}x{}", "${a:-".repeat(100), "}".repeat(100));
        assert!(process_words(&ok, true, true).is_some());
    }
}
