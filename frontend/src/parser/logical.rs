//! The parse loop: physical lines to logical lines (directives, comments, blank lines,
//! continuations, BOM, CRLF), logical lines to [`Node`]s, and heredoc bodies.
//!
//! API (crate-internal): [`parse`]; the public entry point is `parser::parse`.

use tracing::debug;

use super::ast::{Directive, Node, ParseResult, Warning, WarningKind};
use super::directives::{DirectiveError, DirectiveParser};
use super::error::ParseError;
use super::heredoc::heredocs_from_line;
use super::line_parsers::{parse_args, ArgsError};
use super::source::Source;
use super::split::split_command;

const DEFAULT_ESCAPE: char = '\\';

struct State {
    directives: DirectiveParser,
    escape: char,
    found: Vec<Directive>,
}

impl State {
    /// BuildKit's `processLine`: line ending off, optionally leading blanks off, a
    /// directive noted, and a comment reduced to nothing. Returns the text and whether
    /// the line was a directive.
    fn process_line<'l>(
        &mut self,
        src: &Source,
        raw: &'l str,
        strip_left: bool,
        line_no: usize,
    ) -> Result<(&'l str, bool), ParseError> {
        let mut token = raw.trim_end_matches(['\r', '\n']);
        if strip_left {
            token = token.trim_start();
        }
        let directive = self.directives.parse_line(token).map_err(|e| match e {
            DirectiveError::Duplicate(_) => ParseError::Directive {
                at: src.at_text(line_no, "#"),
                message: e.to_string(),
                expected: "each parser directive at most once; remove this line".into(),
            },
        })?;
        let mut is_directive = false;
        if let Some(d) = directive {
            if d.name == "escape" {
                self.escape = match d.value.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    other => {
                        return Err(ParseError::Directive {
                            at: src.at_text(line_no, other),
                            message: format!(
                                "invalid escape token '{other}' does not match ` or \\"
                            ),
                            expected: "`# escape=\\` or `# escape=``".into(),
                        })
                    }
                };
            }
            self.found.push(Directive { line: line_no, ..d });
            is_directive = true;
        }
        Ok((if is_comment(token) { "" } else { token }, is_directive))
    }
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// The escape character at the end of a line (trailing blanks allowed) continues it,
/// unless the escape character is itself escaped. Returns the text without it.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    if let Some(before) = trimmed.strip_suffix(escape) {
        if before.is_empty() || !before.ends_with(escape) {
            return (before, false);
        }
    }
    (line, true)
}

/// The comment text BuildKit keeps: the line minus its first byte, trimmed.
fn comment_text(raw: &str) -> String {
    String::from_utf8_lossy(raw.as_bytes().get(1..).unwrap_or_default())
        .trim()
        .to_string()
}

pub fn parse(file: &str, data: &[u8]) -> Result<ParseResult, ParseError> {
    let src = Source::new(file, data)?;
    let lines = src.lines();
    let mut st = State {
        directives: DirectiveParser::default(),
        escape: DEFAULT_ESCAPE,
        found: Vec::new(),
    };
    let mut nodes = Vec::new();
    let mut warnings = Vec::new();
    let mut comments: Vec<String> = Vec::new();
    let mut next = 0usize;
    let mut current = 0usize;

    while let Some(&first) = lines.get(next) {
        next += 1;
        let raw = if current == 0 {
            first.strip_prefix('\u{feff}').unwrap_or(first)
        } else {
            first
        };
        if is_comment(raw) {
            let text = comment_text(raw);
            if text.is_empty() {
                comments.clear();
            } else {
                comments.push(text);
            }
        }
        let (processed, is_directive) = st.process_line(&src, raw, true, current + 1)?;
        if is_directive {
            comments.pop();
        }
        current += 1;
        let start = current;
        let (text, mut end_of_line) = trim_continuation(processed, st.escape);
        if end_of_line && text.is_empty() {
            continue;
        }
        let mut logical = String::from(text);
        let mut empty_continuation = false;
        while !end_of_line {
            let Some(&raw) = lines.get(next) else { break };
            next += 1;
            let (processed, _) = st.process_line(&src, raw, false, current + 1)?;
            current += 1;
            if is_comment(raw) {
                continue;
            }
            if processed.trim_start().is_empty() {
                empty_continuation = true;
                continue;
            }
            let (text, eol) = trim_continuation(processed, st.escape);
            end_of_line = eol;
            logical.push_str(text);
        }
        if empty_continuation {
            warnings.push(Warning {
                kind: WarningKind::EmptyContinuationLine,
                message: format!("Empty continuation line found in: {logical}"),
                line: current,
                start_line: start,
            });
        }

        let mut node = node_from_line(
            &src,
            &logical,
            st.escape,
            start,
            std::mem::take(&mut comments),
        )?;
        if can_contain_heredoc(&node) && logical.contains("<<") {
            let mut cursor = Cursor {
                lines,
                next,
                current,
            };
            read_heredocs(&src, &mut cursor, &mut node, &logical, start)?;
            (next, current) = (cursor.next, cursor.current);
        }
        node.end_line = current;
        set_child_lines(&mut node);
        nodes.push(node);
    }

    if nodes.is_empty() {
        return Err(ParseError::NoInstructions {
            file: file.to_string(),
        });
    }
    debug!(file, instructions = nodes.len(), "parsed Dockerfile");
    Ok(ParseResult {
        nodes,
        directives: st.found,
        escape: st.escape,
        warnings,
    })
}

/// Where the parse loop is: the next physical line to read, and the last line read.
struct Cursor<'a, 'l> {
    lines: &'l [&'a str],
    next: usize,
    current: usize,
}

/// Reads the bodies of the heredocs opened on `logical`, in order, from the lines
/// after the instruction.
fn read_heredocs(
    src: &Source,
    cursor: &mut Cursor,
    node: &mut Node,
    logical: &str,
    start: usize,
) -> Result<(), ParseError> {
    let markers = heredocs_from_line(logical).map_err(|e| ParseError::Heredoc {
        at: src.at_text(start, "<<"),
        message: e.to_string(),
    })?;
    for mut doc in markers {
        let mut terminated = false;
        let mut content = String::new();
        while let Some(&body) = cursor.lines.get(cursor.next) {
            cursor.next += 1;
            cursor.current += 1;
            let mut candidate = body.trim_end_matches(['\r', '\n']);
            if doc.chomp {
                candidate = candidate.trim_start_matches('\t');
            }
            if candidate == doc.name {
                terminated = true;
                break;
            }
            content.push_str(body);
        }
        if !terminated {
            let marker = if doc.chomp { "<<-" } else { "<<" };
            return Err(ParseError::UnterminatedHeredoc {
                at: src.at_text(start, marker),
                name: doc.name,
            });
        }
        doc.content = content;
        node.heredocs.push(doc);
    }
    Ok(())
}

fn set_child_lines(node: &mut Node) {
    let (start, end) = (node.start_line, node.end_line);
    if let Some(child) = node.child.as_deref_mut() {
        child.start_line = start;
        child.end_line = end;
    }
}

/// RUN, COPY and ADD (also under ONBUILD) in shell form can carry heredocs.
fn can_contain_heredoc(node: &Node) -> bool {
    let target = match (&node.child, node.name.as_str()) {
        (Some(child), "onbuild") => child,
        _ => node,
    };
    matches!(target.name.as_str(), "run" | "copy" | "add") && !target.json
}

/// How many ONBUILDs may nest (`ONBUILD ONBUILD ...`): BuildKit parses any depth but
/// rejects chaining later; a bound keeps hostile input from exhausting the stack.
const MAX_ONBUILD_DEPTH: usize = 16;

/// BuildKit's `newNodeFromLine`: keyword, flags, and the instruction's line parser.
/// ONBUILD's inner instruction is parsed in a loop, then the nodes are nested.
fn node_from_line(
    src: &Source,
    line: &str,
    escape: char,
    start: usize,
    comments: Vec<String>,
) -> Result<Node, ParseError> {
    let mut outer: Vec<Node> = Vec::new();
    let mut line = line.to_string();
    let mut node = loop {
        let (keyword, flags, rest) = split_command(&line, escape);
        let name = keyword.to_lowercase();
        let parsed =
            parse_args(&name, &rest, escape).map_err(|e| args_error(src, start, &rest, e))?;
        let node = Node {
            name,
            keyword,
            original: std::mem::take(&mut line),
            flags,
            args: parsed.args,
            child: None,
            heredocs: Vec::new(),
            json: parsed.json,
            start_line: start,
            end_line: start,
            comments: Vec::new(),
        };
        match parsed.sub_command {
            Some(sub) => {
                if outer.len() >= MAX_ONBUILD_DEPTH {
                    return Err(ParseError::TooDeep {
                        at: src.at_text(start, &node.keyword),
                        depth: outer.len() + 1,
                    });
                }
                outer.push(node);
                line = sub;
            }
            None => break node,
        }
    };
    while let Some(mut parent) = outer.pop() {
        parent.child = Some(Box::new(node));
        node = parent;
    }
    node.comments = comments;
    Ok(node)
}

fn args_error(src: &Source, line: usize, rest: &str, e: ArgsError) -> ParseError {
    match e {
        ArgsError::NotStringArray => ParseError::NotStringArray {
            at: src.at_text(line, "["),
        },
        ArgsError::MissingValue { instruction } => ParseError::MissingValue {
            at: src.at_end(line),
            instruction: instruction.to_string(),
        },
        ArgsError::MissingEquals { instruction, word } => {
            let bare = rest
                .split_whitespace()
                .find(|w| !w.contains('='))
                .unwrap_or_default();
            ParseError::MissingEquals {
                at: src.at_text(line, bare),
                instruction: instruction.to_string(),
                word,
            }
        }
    }
}
