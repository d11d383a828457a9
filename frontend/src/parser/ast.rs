//! The raw Dockerfile AST, as BuildKit's parser produces it, and its `Dump()` format.
//!
//! API: [`Node`] (one instruction), [`Heredoc`], [`Directive`], [`Warning`],
//! [`ParseResult`] (`nodes`, `directives`, `escape`, `warnings`), and
//! [`Node::dump`] / [`ParseResult::dump`], which print BuildKit's `result` format.

use super::goquote::{quote, quote_list};

/// One instruction of a Dockerfile, with its arguments as BuildKit's line parsers split
/// them (quotes and escapes of shell-form arguments kept raw).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The keyword lowercased (`from`, `run`, ...). Unknown keywords are kept too.
    pub name: String,
    /// The keyword exactly as written (`From`), for casing lints.
    pub keyword: String,
    /// The logical line (continuations joined, comments removed), as BuildKit's `Original`.
    pub original: String,
    /// `--name=value` words before the arguments, quotes removed.
    pub flags: Vec<String>,
    /// The arguments (see the README of the conformance data for each instruction's rule).
    pub args: Vec<String>,
    /// The instruction an `ONBUILD` wraps.
    pub child: Option<Box<Node>>,
    /// Heredoc bodies that follow the instruction (RUN, COPY, ADD, also under ONBUILD).
    pub heredocs: Vec<Heredoc>,
    /// The arguments were written in the exec (JSON array) form.
    pub json: bool,
    /// First physical line of the instruction, 1-based.
    pub start_line: usize,
    /// Last physical line, 1-based, heredoc bodies included.
    pub end_line: usize,
    /// The comment lines directly above the instruction (text after `#`, trimmed).
    pub comments: Vec<String>,
}

/// A heredoc attached to an instruction: `<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word, quotes removed.
    pub name: String,
    /// The body, every line with its line ending, without the terminator line. Leading
    /// tabs are still present when `chomp` is set (see [`Heredoc::chomped_content`]).
    pub content: String,
    /// No part of the delimiter was quoted, so the body is subject to expansion.
    pub expand: bool,
    /// `<<-`: leading tabs are stripped from the body lines.
    pub chomp: bool,
    /// The file descriptor prefix (`3<<EOF`), 0 when absent.
    pub fd: u32,
}

impl Heredoc {
    /// The body with leading tabs removed from every line when `chomp` is set.
    pub fn chomped_content(&self) -> String {
        if !self.chomp {
            return self.content.clone();
        }
        chomp_heredoc_content(&self.content)
    }
}

/// Removes leading tabs from every line of `src` (BuildKit's `ChompHeredocContent`).
pub fn chomp_heredoc_content(src: &str) -> String {
    src.split_inclusive('\n')
        .map(|line| line.trim_start_matches('\t'))
        .collect()
}

/// A parser directive from the leading comment block (`# syntax=...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// `syntax`, `escape` or `check` (lowercased).
    pub name: String,
    /// The value, surrounding whitespace trimmed.
    pub value: String,
    /// 1-based line.
    pub line: usize,
}

/// What kind of warning the parser recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarningKind {
    /// Blank lines inside a continued instruction (lint `NoEmptyContinuation`).
    EmptyContinuationLine,
}

/// A non-fatal finding of the parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub kind: WarningKind,
    /// One-line description.
    pub message: String,
    /// 1-based line (the last line of the instruction, as BuildKit reports it).
    pub line: usize,
    /// First line of the instruction the warning is about.
    pub start_line: usize,
}

/// The outcome of parsing a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseResult {
    /// The instructions in source order.
    pub nodes: Vec<Node>,
    /// Parser directives found in the leading comment block.
    pub directives: Vec<Directive>,
    /// The escape character in effect (`\` or `` ` ``).
    pub escape: char,
    pub warnings: Vec<Warning>,
}

impl ParseResult {
    /// BuildKit's `AST.Dump()`: one parenthesised line per instruction, joined with
    /// `\n`, no trailing newline (the conformance `result` files add one).
    pub fn dump(&self) -> String {
        let lines: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("({})", n.dump()))
            .collect();
        lines.join("\n")
    }

    /// The value of a directive by (lowercase) name.
    pub fn directive(&self, name: &str) -> Option<&Directive> {
        self.directives.iter().find(|d| d.name == name)
    }
}

impl Node {
    /// BuildKit's `Node.Dump()` of one instruction, without the outer parentheses:
    /// `copy ["--from=a"] "src" "/dst"`.
    pub fn dump(&self) -> String {
        let mut out = self.name.clone();
        if !self.flags.is_empty() {
            out.push(' ');
            out.push_str(&quote_list(&self.flags));
        }
        if let Some(child) = &self.child {
            out.push_str(" (");
            out.push_str(&child.dump());
            out.push(')');
        }
        for arg in &self.args {
            out.push(' ');
            out.push_str(&quote(arg));
        }
        // Go trims the whole string; only a nameless node can start with a space.
        out.trim().to_string()
    }

    /// The heredocs' bodies by delimiter name.
    pub fn heredoc(&self, name: &str) -> Option<&Heredoc> {
        self.heredocs.iter().find(|h| h.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, flags: &[&str], args: &[&str]) -> Node {
        Node {
            name: name.into(),
            keyword: name.to_uppercase(),
            original: String::new(),
            flags: flags.iter().map(|s| s.to_string()).collect(),
            args: args.iter().map(|s| s.to_string()).collect(),
            child: None,
            heredocs: vec![],
            json: false,
            start_line: 1,
            end_line: 1,
            comments: vec![],
        }
    }

    #[test]
    fn dump_plain_flags_and_child() {
        assert_eq!(node("cmd", &[], &[]).dump(), "cmd");
        assert_eq!(
            node("copy", &["--from=a"], &["x", "/y"]).dump(),
            r#"copy ["--from=a"] "x" "/y""#
        );
        let mut onbuild = node("onbuild", &[], &[]);
        onbuild.child = Some(Box::new(node("run", &[], &["echo", "test"])));
        assert_eq!(onbuild.dump(), r#"onbuild (run "echo" "test")"#);
    }

    #[test]
    fn chomp_strips_leading_tabs_per_line() {
        assert_eq!(chomp_heredoc_content("\t\ta\n\tb\n c\n"), "a\nb\n c\n");
    }
}
