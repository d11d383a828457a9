//! Per-instruction argument parsing, BuildKit's dispatch table: which instruction's
//! arguments are JSON-or-shell, whitespace-split, name/value pairs, and so on.
//!
//! API (crate-internal): [`parse_args`] returning [`Args`] or [`ArgsError`], and
//! [`parse_words`] (BuildKit's `parseWords`, quotes kept).

use super::goquote::quote;
use super::json::{parse_json_array, JsonArray};
use super::split::{is_sep, split_first_word};

/// The parsed arguments of one instruction.
#[derive(Debug, Default)]
pub struct Args {
    pub args: Vec<String>,
    /// The argument text of an ONBUILD's inner instruction.
    pub sub_command: Option<String>,
    pub json: bool,
}

/// Argument errors the parser itself raises (BuildKit's line-parser errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgsError {
    NotStringArray,
    MissingValue {
        instruction: &'static str,
    },
    MissingEquals {
        instruction: &'static str,
        word: String,
    },
}

/// The keywords with a line parser. Any other keyword is kept with one empty argument.
pub const KNOWN: [&str; 18] = [
    "add",
    "arg",
    "cmd",
    "copy",
    "entrypoint",
    "env",
    "expose",
    "from",
    "healthcheck",
    "label",
    "maintainer",
    "onbuild",
    "run",
    "shell",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

/// Parses the argument text `rest` (already trimmed) of instruction `name` (lowercase).
pub fn parse_args(name: &str, rest: &str, escape: char) -> Result<Args, ArgsError> {
    match name {
        "run" | "cmd" | "entrypoint" | "shell" => maybe_json(rest),
        "add" | "copy" | "volume" => maybe_json_to_list(rest),
        "from" | "expose" => Ok(plain(whitespace_delimited(rest))),
        "maintainer" | "user" | "workdir" | "stopsignal" => Ok(plain(string(rest))),
        "env" => name_val(rest, "ENV", escape).map(plain),
        "label" => name_val(rest, "LABEL", escape).map(plain),
        "arg" => Ok(plain(parse_words(rest, escape))),
        "healthcheck" => health_config(rest),
        "onbuild" => Ok(Args {
            sub_command: (!rest.is_empty()).then(|| rest.to_string()),
            ..Args::default()
        }),
        _ => Ok(plain(vec![String::new()])),
    }
}

fn plain(args: Vec<String>) -> Args {
    Args {
        args,
        ..Args::default()
    }
}

fn string(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return vec![];
    }
    vec![rest.to_string()]
}

fn whitespace_delimited(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return vec![];
    }
    rest.split(is_sep)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn json(rest: &str) -> Option<Result<Args, ArgsError>> {
    match parse_json_array(rest) {
        JsonArray::Strings(args) => Some(Ok(Args {
            args,
            json: true,
            sub_command: None,
        })),
        JsonArray::NotStringArray => Some(Err(ArgsError::NotStringArray)),
        JsonArray::Invalid => None,
    }
}

fn maybe_json(rest: &str) -> Result<Args, ArgsError> {
    if rest.is_empty() {
        return Ok(Args::default());
    }
    json(rest).unwrap_or_else(|| Ok(plain(vec![rest.to_string()])))
}

fn maybe_json_to_list(rest: &str) -> Result<Args, ArgsError> {
    json(rest).unwrap_or_else(|| Ok(plain(whitespace_delimited(rest))))
}

fn health_config(rest: &str) -> Result<Args, ArgsError> {
    if rest.is_empty() {
        return Ok(Args::default());
    }
    let sep = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let (typ, cmd) = rest.split_at(sep);
    let mut parsed = maybe_json(cmd.trim_start())?;
    parsed.args.insert(0, typ.to_string());
    Ok(parsed)
}

/// `ENV`/`LABEL`: the legacy `KEY name value...` form or `name=value` words, each as
/// a (name, value, separator) triple; values keep their quotes and escapes.
fn name_val(rest: &str, instruction: &'static str, escape: char) -> Result<Vec<String>, ArgsError> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(vec![]);
    };
    if !first.contains('=') {
        let (key, value) = split_first_word(rest);
        let Some(value) = value else {
            return Err(ArgsError::MissingValue { instruction });
        };
        return Ok(vec![key.to_string(), value.to_string(), String::new()]);
    }
    let mut out = Vec::with_capacity(words.len() * 3);
    for word in words {
        let Some((key, value)) = word.split_once('=') else {
            return Err(ArgsError::MissingEquals {
                instruction,
                word: quote(&word),
            });
        };
        out.extend([key.to_string(), value.to_string(), "=".to_string()]);
    }
    Ok(out)
}

#[derive(PartialEq)]
enum Phase {
    Spaces,
    Word,
    Quote,
}

/// BuildKit's `parseWords`: whitespace-separated words where quoted parts may hold
/// blanks; quotes and escape characters are kept in the words.
pub fn parse_words(rest: &str, escape: char) -> Vec<String> {
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut i = 0;
    loop {
        let Some(&ch) = chars.get(i) else {
            if phase != Phase::Spaces && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            return words;
        };
        let at_last = i + 1 == chars.len();
        match phase {
            Phase::Spaces => {
                if !ch.is_whitespace() {
                    phase = Phase::Word;
                    continue;
                }
            }
            Phase::Word => {
                if ch.is_whitespace() {
                    if blank_ok || !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    phase = Phase::Spaces;
                    blank_ok = false;
                } else {
                    if ch == '\'' || ch == '"' {
                        quote = ch;
                        blank_ok = true;
                        phase = Phase::Quote;
                    }
                    if ch == escape {
                        // An escape at the very end is dropped; otherwise the escape
                        // and the next character are both kept.
                        if !at_last {
                            word.push(ch);
                            i += 1;
                            word.push(chars[i]);
                        }
                    } else {
                        word.push(ch);
                    }
                }
            }
            Phase::Quote => {
                if ch == quote {
                    phase = Phase::Word;
                }
                if ch == escape && quote != '\'' {
                    if at_last {
                        phase = Phase::Word;
                    } else {
                        word.push(ch);
                        i += 1;
                        word.push(chars[i]);
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

    #[test]
    fn words_keep_quotes_and_escapes() {
        assert_eq!(
            parse_words(r#"abc="123 456" def"#, '\\'),
            [r#"abc="123 456""#, "def"]
        );
        assert_eq!(parse_words(r"a=b\ c d", '\\'), [r"a=b\ c", "d"]);
        assert_eq!(parse_words(r#"a="" b"#, '\\'), [r#"a="""#, "b"]);
        assert_eq!(parse_words(r"'a\'b'", '\\'), [r"'a\'b'"]);
        assert_eq!(parse_words("a\\", '\\'), ["a"]);
    }

    #[test]
    fn name_val_forms() {
        let p = |s| parse_args("env", s, '\\').map(|a| a.args);
        assert_eq!(p("name value more").unwrap(), ["name", "value more", ""]);
        assert_eq!(p("a=b c=d").unwrap(), ["a", "b", "=", "c", "d", "="]);
        assert_eq!(
            p("PATH"),
            Err(ArgsError::MissingValue { instruction: "ENV" })
        );
        assert!(matches!(p("a=b c"), Err(ArgsError::MissingEquals { .. })));
    }

    #[test]
    fn healthcheck_and_unknown() {
        let a = parse_args("healthcheck", "CMD   a b", '\\').unwrap();
        assert_eq!(a.args, ["CMD", "a b"]);
        let a = parse_args("healthcheck", "CMD [\"x\"]", '\\').unwrap();
        assert_eq!(
            (a.args, a.json),
            (vec!["CMD".to_string(), "x".to_string()], true)
        );
        assert_eq!(parse_args("foo", "bar", '\\').unwrap().args, [""]);
    }
}
