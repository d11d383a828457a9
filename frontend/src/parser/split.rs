//! Splitting a logical line into keyword, flags and the rest, as BuildKit's
//! `splitCommand` and `extractBuilderFlags` do.
//!
//! API (crate-internal): [`split_command`].

/// BuildKit's `[\t\v\f\r ]+`, the separator between keyword and arguments.
pub fn is_sep(c: char) -> bool {
    matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

/// Splits on the first run of separators: `("RUN", Some("echo hi"))`.
pub fn split_first_word(text: &str) -> (&str, Option<&str>) {
    match text.find(is_sep) {
        Some(i) => (&text[..i], Some(text[i..].trim_start_matches(is_sep))),
        None => (text, None),
    }
}

/// Splits a logical line into (keyword as written, flags, arguments text).
pub fn split_command(line: &str, escape: char) -> (String, Vec<String>, String) {
    let (cmd, rest) = split_first_word(line.trim());
    let (args, flags) = match rest {
        Some(rest) => extract_builder_flags(rest, escape),
        None => ("", Vec::new()),
    };
    (cmd.to_string(), flags, args.trim().to_string())
}

#[derive(PartialEq)]
enum Phase {
    Spaces,
    Word,
    Quote,
}

/// Takes the leading `--flag` words off `line`: quotes inside a flag word are removed,
/// the escape character escapes the next character, and a bare `--` ends the flags
/// (and is dropped). Returns the remaining text and the flags.
///
/// BuildKit walks bytes here, which mangles non-ASCII text in flags; kiln walks
/// characters, so `--chown=usér` stays as written.
pub fn extract_builder_flags(line: &str, escape: char) -> (&str, Vec<String>) {
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut i = 0;
    loop {
        let Some(&(byte, ch)) = chars.get(i) else {
            if phase != Phase::Spaces && word != "--" && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            return ("", words);
        };
        let at_last = i + 1 == chars.len();
        match phase {
            Phase::Spaces => {
                if ch.is_whitespace() {
                    i += 1;
                    continue;
                }
                let next_is_dash = chars.get(i + 1).is_some_and(|&(_, c)| c == '-');
                if ch != '-' || !next_is_dash {
                    return (&line[byte..], words);
                }
                phase = Phase::Word;
                continue;
            }
            Phase::Word => {
                if ch.is_whitespace() {
                    if word == "--" {
                        return (&line[byte..], words);
                    }
                    if blank_ok || !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    word.clear();
                    phase = Phase::Spaces;
                    blank_ok = false;
                } else if ch == '\'' || ch == '"' {
                    quote = ch;
                    blank_ok = true;
                    phase = Phase::Quote;
                } else if ch == escape {
                    if !at_last {
                        i += 1;
                        word.push(chars[i].1);
                    }
                } else {
                    word.push(ch);
                }
            }
            Phase::Quote => {
                if ch == quote {
                    phase = Phase::Word;
                } else if ch == escape {
                    if at_last {
                        phase = Phase::Word;
                    } else {
                        i += 1;
                        word.push(chars[i].1);
                    }
                } else {
                    word.push(ch);
                }
            }
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> (String, Vec<String>, String) {
        split_command(line, '\\')
    }

    #[test]
    fn keyword_flags_and_args() {
        assert_eq!(
            split("RUN echo hi"),
            ("RUN".into(), vec![], "echo hi".into())
        );
        assert_eq!(split("  CMD  "), ("CMD".into(), vec![], "".into()));
        assert_eq!(
            split("COPY --from=a --chown=\"u g\" x y"),
            (
                "COPY".into(),
                vec!["--from=a".into(), "--chown=u g".into()],
                "x y".into()
            )
        );
    }

    #[test]
    fn double_dash_ends_flags() {
        assert_eq!(
            split("COPY --doit=true -- foo /tmp/"),
            (
                "COPY".into(),
                vec!["--doit=true".into()],
                "foo /tmp/".into()
            )
        );
        assert_eq!(
            split("CMD --doit -- [ ]"),
            ("CMD".into(), vec!["--doit".into()], "[ ]".into())
        );
        assert_eq!(split("COPY --"), ("COPY".into(), vec![], "".into()));
        assert_eq!(split("RUN -x"), ("RUN".into(), vec![], "-x".into()));
    }

    #[test]
    fn escapes_and_quotes_in_flags() {
        assert_eq!(split(r"RUN --a=b\ c x").1, vec!["--a=b c"]);
        assert_eq!(split(r#"RUN --a="" x"#).1, vec!["--a="]);
        assert_eq!(split_command("RUN --a=`\"b x", '`').1, vec!["--a=\"b"]);
        assert_eq!(split("RUN --a=é x").1, vec!["--a=é"]);
    }
}
