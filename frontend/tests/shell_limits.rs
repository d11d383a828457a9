//! Large and hostile words: a 1 MB word must expand in linear time (checked by running it,
//! with no timing assertion; a quadratic lexer would take minutes here), and nesting
//! deeper than `MAX_NESTING` is refused instead of overflowing the stack.

mod common;

use common::env;
use kiln_frontend::shell::{Lexer, ShellErrorKind, MAX_NESTING};

const MB: usize = 1 << 20;

#[test]
fn one_megabyte_literal_word() {
    let lexer = Lexer::new('\\');
    let input = "abc def 한 ".repeat(MB / 12);
    assert_eq!(
        lexer.process_word(&input, &env(&[])).ok().as_ref(),
        Some(&input)
    );
    let fields = lexer.process_words(&input, &env(&[])).unwrap_or_default();
    assert_eq!(fields.len(), 3 * (MB / 12));
    let quoted = format!("'{input}'");
    assert_eq!(
        lexer.process_word(&quoted, &env(&[])).ok().as_ref(),
        Some(&input)
    );
}

#[test]
fn one_megabyte_of_references() {
    let lexer = Lexer::new('\\');
    let input = "$V${V}\"$V\"".repeat(MB / 11);
    let got = lexer.process_word_with_matches(&input, &env(&[("V", "x")]));
    let got = got.unwrap_or_else(|err| panic!("{}", err.kind));
    assert_eq!(got.result.len(), 3 * (MB / 11));
    assert_eq!(got.matched.len(), 1);
}

#[test]
fn patterns_over_a_one_megabyte_value() {
    let lexer = Lexer::new('\\');
    let value = "ab/".repeat(MB / 3);
    let vars = env(&[("V", &value)]);
    let run = |word: &str| {
        lexer
            .process_word(word, &vars)
            .unwrap_or_else(|err| panic!("{word}: {}", err.kind))
    };
    assert_eq!(run("${V//a/x}"), value.replace('a', "x"));
    assert_eq!(run("${V//?/.}"), ".".repeat(value.len()));
    assert_eq!(run("${V/*b/}"), "/");
    assert_eq!(run("${V#*/}").len(), value.len() - 3);
    assert_eq!(run("${V##*/}"), "");
    assert_eq!(run("${V%/*}").len(), value.len() - 1);
    assert_eq!(run("${V%%/*}"), "ab");
    // No match anywhere: every start position is tried at once, not one after another.
    assert_eq!(run("${V#*a*b*c}"), value);
    assert_eq!(run("${V//*z/-}"), value);
}

#[test]
fn nesting_up_to_the_limit_works() {
    let depth = MAX_NESTING;
    let input = format!("{}x{}", "${A:-".repeat(depth), "}".repeat(depth));
    let got = Lexer::new('\\').process_word(&input, &env(&[]));
    assert_eq!(got.ok().as_deref(), Some("x"));
}

#[test]
fn nesting_beyond_the_limit_is_an_error_not_a_crash() {
    for depth in [MAX_NESTING + 1, 100_000] {
        let input = format!("{}x{}", "${A:-".repeat(depth), "}".repeat(depth));
        let err = Lexer::new('\\')
            .process_word(&input, &env(&[]))
            .unwrap_err();
        assert!(
            matches!(err.kind, ShellErrorKind::TooDeep { .. }),
            "{:?}",
            err.kind
        );
        let unclosed = "${A:-\"".repeat(depth);
        assert!(Lexer::new('\\')
            .process_words(&unclosed, &env(&[]))
            .is_err());
    }
}
