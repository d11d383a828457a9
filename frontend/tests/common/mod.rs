//! Helpers the frontend's integration tests share: fixture files, compiling them, picking
//! vertices out of the graph, and expanding words with the shell lexer. Each test binary
//! uses a subset, hence the `dead_code` allowance.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use kiln_frontend::compile::{compile, CompileError, CompileOptions, Compiled, NoImages};
use kiln_frontend::graph::{Exec, Op, Vertex};
use kiln_frontend::shell::{Lexer, ShellErrorKind};

/// A file under `testdata/frontend/<dir>/`; panics naming the path when it cannot be read.
pub fn testdata(dir: &str, name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/frontend")
        .join(dir)
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Compiles the fixture `testdata/frontend/compile/<name>` with `opts`.
pub fn build_with(name: &str, opts: &CompileOptions) -> Result<Compiled, CompileError> {
    compile(name, &testdata("compile", name), opts, &NoImages)
}

/// Compiles the fixture `name` with default options; it must succeed.
pub fn build(name: &str) -> Compiled {
    build_with(name, &CompileOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The Exec vertices compiled from `line`, with their input digests.
pub fn execs_at(c: &Compiled, line: usize) -> Vec<(Exec, Vec<String>)> {
    c.graph
        .vertices()
        .filter(|v| v.origin.start_line == line)
        .filter_map(|v| match &v.op {
            Op::Exec(e) => Some((e.clone(), v.inputs.iter().map(|d| d.to_string()).collect())),
            _ => None,
        })
        .collect()
}

/// The vertex with `digest`; it must exist.
pub fn vertex<'a>(c: &'a Compiled, digest: &str) -> &'a Vertex {
    c.graph
        .vertices()
        .find(|v| v.digest.as_str() == digest)
        .unwrap_or_else(|| panic!("no vertex {digest}"))
}

/// The `created_by` of every history entry, in order.
pub fn history(c: &Compiled) -> Vec<String> {
    c.history.iter().map(|h| h.created_by.clone()).collect()
}

/// An environment for the lexer from `(name, value)` pairs.
pub fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

/// Expands `input` and checks the result and the matched/unmatched names.
pub fn check(
    input: &str,
    vars: &[(&str, &str)],
    expected: &str,
    matched: &[&str],
    unmatched: &[&str],
) {
    let got = Lexer::new('\\')
        .process_word_with_matches(input, &env(vars))
        .unwrap_or_else(|err| panic!("{input:?} with {vars:?} failed: {err}"));
    assert_eq!(got.result, expected, "result of {input:?} with {vars:?}");
    assert_eq!(got.matched, set(matched), "matched names of {input:?}");
    assert_eq!(
        got.unmatched,
        set(unmatched),
        "unmatched names of {input:?}"
    );
}

/// Expands `input`, which must fail, and returns why.
pub fn fails(input: &str, vars: &[(&str, &str)]) -> ShellErrorKind {
    match Lexer::new('\\').process_word_with_matches(input, &env(vars)) {
        Ok(got) => panic!("{input:?} with {vars:?} should fail, gave {:?}", got.result),
        Err(err) => err.kind,
    }
}
