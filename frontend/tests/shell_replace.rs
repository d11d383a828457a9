//! `${V/pattern/replacement}` and `${V//pattern/replacement}`, and invalid patterns: cases
//! from BuildKit's Go-only table (TestProcessWithMatches) plus our own, each checking the
//! result and the matched/unmatched names. Expected values were cross-checked against
//! BuildKit's lexer.

use std::collections::BTreeSet;

use kiln_frontend::shell::{Lexer, ShellErrorKind};

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

/// Expands `input` and checks the result and the matched/unmatched names.
fn check(input: &str, vars: &[(&str, &str)], expected: &str, matched: &[&str], unmatched: &[&str]) {
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

fn fails(input: &str, vars: &[(&str, &str)]) -> ShellErrorKind {
    match Lexer::new('\\').process_word_with_matches(input, &env(vars)) {
        Ok(got) => panic!("{input:?} with {vars:?} should fail, gave {:?}", got.result),
        Err(err) => err.kind,
    }
}

#[test]
fn replacement() {
    check(
        "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
        &[("FOO", "/foo*/*/*.txt"), ("NEEDLE", "\\*/")],
        "/foo.*/*.txt - /foo..*.txt",
        &["FOO", "NEEDLE"],
        &[],
    );
    check(
        "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
        &[("FOO", "/tmp/tmp/bar.txt"), ("NEEDLE", "/tmp")],
        "/tmp/bar.txt - /bar.txt",
        &["FOO", "NEEDLE"],
        &[],
    );
    check(
        "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
        &[
            ("FOO", "/a/foo/b/c.txt"),
            ("NEEDLE", "/?/"),
            ("REPLACEMENT", "/"),
        ],
        "/foo/b/c.txt - /foo/c.txt",
        &["FOO", "NEEDLE", "REPLACEMENT"],
        &[],
    );
    check(
        "${FOO/$NEEDLE/$REPLACEMENT}",
        &[
            ("FOO", "http://google.de"),
            ("NEEDLE", "http://"),
            ("REPLACEMENT", "https://"),
        ],
        "https://google.de",
        &["FOO", "NEEDLE", "REPLACEMENT"],
        &[],
    );
    // Escapes stay in the replacement, as in BuildKit.
    check(
        "${FOO//\\//\\/}",
        &[("FOO", "/tmp/foo.txt")],
        "\\/tmp\\/foo.txt",
        &["FOO"],
        &[],
    );
}

#[test]
fn replacement_edge_cases() {
    check(
        "${FOO/$BAR/ww}",
        &[("FOO", "xxyy"), ("BAR", "")],
        "wwxxyy",
        &["FOO", "BAR"],
        &[],
    );
    check("${FOO///}", &[("FOO", "xxyy")], "xxyy", &["FOO"], &[]);
    check("${FOO///}", &[], "", &[], &["FOO"]);
    check("${FOO//''/-}", &[("FOO", "ab")], "-a-b-", &["FOO"], &[]);
    for input in ["${FOO//ww}", "${FOO//}", "${FOO/x"] {
        let kind = fails(input, &[("FOO", "xxyy")]);
        assert!(
            matches!(
                kind,
                ShellErrorKind::MissingSlash | ShellErrorKind::MissingBrace
            ),
            "{input}: {kind:?}"
        );
    }
}

#[test]
fn replace_all_reads_the_replacement_as_a_go_template() {
    // `$0` is the match, `$$` a dollar, other names nothing; a single replacement is literal.
    check(
        "${FOO//o/[\\$0]}",
        &[("FOO", "foo")],
        "f[\\o][\\o]",
        &["FOO"],
        &[],
    );
    check(
        "${FOO/o/[\\$0]}",
        &[("FOO", "foo")],
        "f[\\$0]o",
        &["FOO"],
        &[],
    );
    check(
        "${FOO//o/$R}",
        &[("FOO", "foo"), ("R", "<$0|${0}|$$|$1|$x|${|$>")],
        "f<o|o|$|||${|$><o|o|$|||${|$>",
        &["FOO", "R"],
        &[],
    );
}

#[test]
fn invalid_pattern_escapes() {
    for input in ["${FOO#\\x}", "${FOO%\\x}", "${FOO/\\x/y}", "${FOO#'*\\'}"] {
        match fails(input, &[("FOO", "x")]) {
            ShellErrorKind::InvalidPattern { .. } => {}
            other => panic!("{input}: {other:?}"),
        }
    }
}
