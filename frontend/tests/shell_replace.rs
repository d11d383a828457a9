//! `${V/pattern/replacement}` and `${V//pattern/replacement}`, and invalid patterns: cases
//! from BuildKit's Go-only table (TestProcessWithMatches) plus our own, each checking the
//! result and the matched/unmatched names. Expected values were cross-checked against
//! BuildKit's lexer.

mod common;

use common::{check, fails};
use kiln_frontend::shell::ShellErrorKind;

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
