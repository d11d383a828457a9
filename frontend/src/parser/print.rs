//! Printing a parsed AST back to Dockerfile text, such that parsing the text again
//! gives the same nodes (ignoring `original` and line numbers).
//!
//! API: [`print_dockerfile`]`(&ParseResult) -> String`, [`print_node`]`(&Node, escape)`.

use super::ast::{Heredoc, Node, ParseResult};
use super::heredoc::heredocs_from_line;
use super::json::{parse_json_array, JsonArray};

/// The whole file: directives, then each node with its comments and heredoc bodies.
pub fn print_dockerfile(result: &ParseResult) -> String {
    let mut out = String::new();
    for d in &result.directives {
        out.push_str(&format!("# {}={}\n", d.name, d.value));
    }
    // A blank line ends the directive block, so a first comment that looks like a
    // directive stays a comment; blank lines do not reset collected comments.
    out.push('\n');
    for node in &result.nodes {
        for comment in &node.comments {
            out.push_str(&format!("# {comment}\n"));
        }
        if node.keyword.is_empty() {
            // Only a lone escape character continuing into the end of the file makes a
            // nameless node, and so it is always the last one: print it the same way.
            out.push(result.escape);
        } else {
            let line = print_node(node, result.escape);
            out.push_str(&guard_continuation(line, result.escape));
        }
        out.push('\n');
        for doc in &node.heredocs {
            out.push_str(&doc.content);
            out.push_str(&doc.name);
            out.push('\n');
        }
    }
    out
}

/// One instruction on one line (heredoc bodies not included).
pub fn print_node(node: &Node, escape: char) -> String {
    print_with(node, escape, &node.heredocs)
}

/// `heredocs` are the ones the printed line must open again (an ONBUILD's, for its
/// inner instruction).
fn print_with(node: &Node, escape: char, heredocs: &[Heredoc]) -> String {
    let mut line = node.keyword.clone();
    for flag in &node.flags {
        line.push(' ');
        line.push_str(&escape_flag(flag, escape));
    }
    let mut rest = match &node.child {
        Some(child) => print_with(child, escape, heredocs),
        None => print_args(node, heredocs),
    };
    let known = super::line_parsers::KNOWN.contains(&node.name.as_str());
    if !known
        && node.child.is_none()
        && node
            .keyword
            .ends_with(|c: char| c.is_whitespace() || c == escape)
    {
        // The parser trims the line, which would eat a blank at the end of the keyword;
        // an unknown instruction ignores its arguments, so any word protects it.
        rest = "_".into();
    }
    if rest.ends_with(char::is_whitespace) {
        // Only an unterminated quote in a word list ends in a blank. A final escape
        // character (dropped by the word reader) keeps the blank from being trimmed;
        // `guard_continuation` then stops it from continuing the line.
        rest.push(escape);
    }
    if !rest.is_empty() {
        // Arguments that look like flags must come after the `--` that ends flags.
        if rest.starts_with("--") {
            line.push_str(" --");
        }
        line.push(' ');
        line.push_str(&rest);
    }
    line
}

/// A line whose text ends with a lone escape character would continue onto the next
/// one. The parser trims a trailing form feed from the instruction but does not count
/// it as a blank before a continuation, so one form feed keeps the text the same.
fn guard_continuation(line: String, escape: char) -> String {
    let trimmed = line.trim_end_matches([' ', '\t']);
    match trimmed.strip_suffix(escape) {
        Some(before) if !before.ends_with(escape) => line + "\u{c}",
        _ => line,
    }
}

/// A flag word: `--name=value` as is when it needs no quoting, else the part after
/// `--` in double quotes (quotes are removed by the flag reader, and a trailing blank
/// cannot turn into a line continuation inside them).
fn escape_flag(flag: &str, escape: char) -> String {
    let body = flag.strip_prefix("--").unwrap_or(flag);
    let plain = !body
        .chars()
        .any(|c| c.is_whitespace() || c == '"' || c == '\'' || c == escape);
    if plain {
        return format!("--{body}");
    }
    let mut out = String::from("--\"");
    for c in body.chars() {
        if c == '"' || c == escape {
            out.push(escape);
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn json_array(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

fn print_args(node: &Node, heredocs: &[Heredoc]) -> String {
    let args = &node.args;
    match node.name.as_str() {
        "env" | "label" => {
            let pairs: Vec<String> = args
                .chunks(3)
                .map(|t| match t {
                    // Two blanks: a key ending in the escape character would
                    // otherwise swallow the single blank into the key's word.
                    [k, v, sep] if sep.is_empty() => format!("{k}  {v}"),
                    [k, v, sep] => format!("{k}{sep}{v}"),
                    other => other.join(" "),
                })
                .collect();
            pairs.join(" ")
        }
        "healthcheck" => match args.split_first() {
            None => String::new(),
            Some((typ, cmd)) if node.json => format!("{typ} {}", json_array(cmd)),
            Some((typ, [])) => typ.clone(),
            Some((typ, cmd)) => format!("{typ} {}", cmd.join(" ")),
        },
        // An unknown keyword's single empty argument comes back by itself.
        _ if !super::line_parsers::KNOWN.contains(&node.name.as_str()) => String::new(),
        _ if node.json => json_array(args),
        "add" | "copy" | "volume" => join_file_words(node, heredocs),
        _ => args.join(" "),
    }
}

/// ADD/COPY/VOLUME words split from text that was not a JSON array. Joined by spaces
/// they may look like one; a vertical tab separates them just the same, and is neither
/// JSON white space nor allowed inside a JSON string. After a bare `<<` word, a space
/// would join the next word into a heredoc marker (the lexer takes blanks after `<<`);
/// a vertical tab does not, so the gap is chosen to open the same heredocs as before.
fn join_file_words(node: &Node, heredocs: &[Heredoc]) -> String {
    let args = &node.args;
    let spaced = args.join(" ");
    let other = if parse_json_array(&spaced) == JsonArray::Invalid {
        ' '
    } else {
        '\u{b}'
    };
    let is_bare_marker = |w: &str| {
        w.strip_suffix("<<")
            .is_some_and(|fd| fd.bytes().all(|b| b.is_ascii_digit()))
    };
    let build = |after_marker: char| {
        let mut out = String::new();
        for (i, word) in args.iter().enumerate() {
            if i > 0 {
                out.push(if is_bare_marker(&args[i - 1]) {
                    after_marker
                } else {
                    other
                });
            }
            out.push_str(word);
        }
        out
    };
    let names = |text: &str| -> Vec<String> {
        heredocs_from_line(&format!("{} {text}", node.keyword))
            .map(|docs| docs.into_iter().map(|d| d.name).collect())
            .unwrap_or_default()
    };
    let wanted: Vec<String> = heredocs.iter().map(|d| d.name.clone()).collect();
    let with_space = build(' ');
    if node.name == "volume" || names(&with_space) == wanted {
        with_space
    } else {
        build('\u{b}')
    }
}
