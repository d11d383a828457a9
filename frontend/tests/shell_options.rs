//! Lexer options, the backtick escape character, environments, field splitting and error
//! reporting. Expected values were cross-checked against BuildKit's lexer.

mod common;

use std::collections::{BTreeMap, HashMap};

use common::env;
use kiln_frontend::shell::{Env, Lexer, ShellErrorKind};

fn word(lexer: &Lexer, input: &str, vars: &[(&str, &str)]) -> String {
    lexer
        .process_word(input, &env(vars))
        .unwrap_or_else(|err| panic!("{input:?} failed: {err}"))
}

fn words(lexer: &Lexer, input: &str, vars: &[(&str, &str)]) -> Vec<String> {
    lexer
        .process_words(input, &env(vars))
        .unwrap_or_else(|err| panic!("{input:?} failed: {err}"))
}

#[test]
fn backtick_escape_character() {
    let lexer = Lexer::new('`');
    assert_eq!(lexer.escape(), '`');
    assert_eq!(word(&lexer, "a`$b`\"c", &[]), "a$b\"c");
    assert_eq!(word(&lexer, "\"a`\"b\"", &[]), "a\"b");
    // With a backtick escape, backslashes are ordinary (Windows paths).
    assert_eq!(word(&lexer, "C:\\dir\\$D", &[("D", "x")]), "C:\\dir\\x");
    assert_eq!(word(&lexer, "\"C:\\dir\\\"", &[]), "C:\\dir\\");
    assert_eq!(words(&lexer, "a` b c``", &[]), ["a b", "c`"]);
    // Patterns always escape with a backslash, whatever the lexer's escape character.
    assert_eq!(word(&lexer, "${FOO#\\*}", &[("FOO", "*a")]), "a");
    assert_eq!(word(&lexer, "${FOO#`*}", &[("FOO", "*a")]), "*a");
}

#[test]
fn raw_quotes_keep_quote_characters() {
    let mut lexer = Lexer::new('\\');
    lexer.raw_quotes = true;
    assert_eq!(word(&lexer, "'a'\"b $V\"", &[("V", "v")]), "'a'\"b v\"");
    assert_eq!(words(&lexer, "'a b' \"c d\"", &[]), ["'a b'", "\"c d\""]);
    assert!(lexer.process_word("'a", &env(&[])).is_err());
}

#[test]
fn raw_escapes_keep_escape_characters() {
    let mut lexer = Lexer::new('\\');
    lexer.raw_escapes = true;
    assert_eq!(word(&lexer, "a\\ b\\", &[]), "a\\ b\\");
    assert_eq!(words(&lexer, "a\\ b c", &[]), ["a\\ b", "c"]);
    // Inside double quotes BuildKit then writes a non-escaping backslash twice.
    assert_eq!(word(&lexer, "\"a\\tb\"", &[]), "a\\\\tb");
    // Operands of `-`, `+` and `?` are read without raw escapes.
    assert_eq!(word(&lexer, "${X:-\\$}", &[]), "$");
}

#[test]
fn skip_unset_env_keeps_references_as_written() {
    let mut lexer = Lexer::new('\\');
    lexer.skip_unset_env = true;
    let input = "$X ${X} ${X:-d} ${X/a/b} ${X//a/b} ${X##p} ${X?m}";
    // BuildKit writes `//` back as `/`.
    assert_eq!(
        word(&lexer, input, &[]),
        "$X ${X} ${X:-d} ${X/a/b} ${X/a/b} ${X##p} ${X?m}"
    );
    assert_eq!(word(&lexer, "$X-${Y:-d}", &[("X", "x")]), "x-${Y:-d}");
    // The operand is expanded even when the reference is kept.
    assert_eq!(word(&lexer, "${X:-$Y}", &[("Y", "y")]), "${X:-y}");
    // Unknown operators still fail when the variable is set.
    assert_eq!(word(&lexer, "${N:=x}", &[]), "${N:=x}");
    assert!(lexer.process_word("${N:=x}", &env(&[("N", "v")])).is_err());
    let kept = lexer
        .process_word_with_matches("$X ${Y}", &env(&[("Y", "")]))
        .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(kept.result, "$X ");
    assert!(kept.unmatched.contains("X") && kept.matched.contains("Y"));
}

#[test]
fn skip_process_quotes_makes_quotes_ordinary() {
    let mut lexer = Lexer::new('\\');
    lexer.skip_process_quotes = true;
    assert_eq!(word(&lexer, "'$FOO' \"x\"", &[("FOO", "v")]), "'v' \"x\"");
    assert_eq!(words(&lexer, "'a b'", &[]), ["'a", "b'"]);
    assert_eq!(word(&lexer, "'unterminated", &[]), "'unterminated");
}

#[test]
fn field_splitting() {
    let lexer = Lexer::new('\\');
    let spaced = [("S", " a  b ")];
    assert_eq!(words(&lexer, "x${S}y", &spaced), ["x", "a", "b", "y"]);
    assert_eq!(words(&lexer, "x\"${S}\"y", &spaced), ["x a  b y"]);
    assert_eq!(words(&lexer, "${FOO:-a b}c", &[]), ["a", "bc"]);
    assert_eq!(words(&lexer, "'' x \"\"", &[]), ["x"]);
    assert_eq!(words(&lexer, " \t\n ", &[]), Vec::<String>::new());
    // Unicode white space separates like ASCII space (Go's unicode.IsSpace).
    assert_eq!(words(&lexer, "a\u{2003}b\u{a0}c", &[]), ["a", "b", "c"]);
    // `<<` and the blanks after it stay in one field (heredoc markers).
    assert_eq!(words(&lexer, "cat <<  EOF x", &[]), ["cat", "<<  EOF", "x"]);
    assert_eq!(words(&lexer, "a < b", &[]), ["a", "<", "b"]);
}

#[test]
fn field_splitting_keeps_buildkits_shared_buffer_quirk() {
    // BuildKit drops an unfinished field when a `${V<op>...}` operand is expanded.
    let lexer = Lexer::new('\\');
    assert_eq!(words(&lexer, "abc${X:-def}", &[]), ["def"]);
    assert_eq!(words(&lexer, "pre\"in${X:-d}\"", &[]), ["ind"]);
    assert_eq!(words(&lexer, "a b${X}c", &[("X", "x")]), ["a", "bxc"]);
    assert_eq!(word(&lexer, "abc${X:-def}", &[]), "abcdef");
}

#[test]
fn leading_byte_order_mark_is_ignored() {
    let lexer = Lexer::new('\\');
    assert_eq!(word(&lexer, "\u{feff}abc", &[]), "abc");
    assert_eq!(word(&lexer, "a\u{feff}bc", &[]), "a\u{feff}bc");
}

#[test]
fn names_use_go_letter_and_digit_classes() {
    let lexer = Lexer::new('\\');
    assert_eq!(word(&lexer, "$한국.", &[("한국", "k")]), "k.");
    // A combining mark is not a letter for Go, so the name ends before it.
    assert_eq!(word(&lexer, "$कि", &[("क", "K")]), "Kि");
    // Non-ASCII decimal digits are digits; `$٣` is a positional parameter.
    assert_eq!(word(&lexer, "$٣x", &[]), "x");
}

#[test]
fn every_environment_kind() {
    let lexer = Lexer::new('\\');
    let list = env(&[("A", "1"), ("B", "2"), ("A", "3")]);
    assert_eq!(
        lexer.process_word("$A$B", &list).ok().as_deref(),
        Some("32")
    );
    let slice: &[(String, String)] = &list;
    assert_eq!(lexer.process_word("$A", &slice).ok().as_deref(), Some("3"));
    assert_eq!(Env::get(slice, "A"), Some("3".to_owned()));
    let tree: BTreeMap<String, String> = list.iter().cloned().collect();
    assert_eq!(
        lexer.process_word("$A$B", &tree).ok().as_deref(),
        Some("32")
    );
    let hash: HashMap<String, String> = list.iter().cloned().collect();
    assert_eq!(
        lexer.process_word("$A$B", &hash).ok().as_deref(),
        Some("32")
    );
    let layered = |name: &str| match name {
        "A" => Some("env".to_owned()),
        other => tree.get(other).cloned(),
    };
    assert_eq!(
        lexer.process_word("$A$B$C", &layered).ok().as_deref(),
        Some("env2")
    );
    // Names are case-sensitive.
    assert_eq!(lexer.process_word("$a", &list).ok().as_deref(), Some(""));
}

#[test]
fn errors_name_the_word_column_and_problem() {
    let lexer = Lexer::new('\\');
    type IsExpected = fn(&ShellErrorKind) -> bool;
    let cases: [(&str, IsExpected, usize); 6] = [
        (
            "abc\"",
            |k| matches!(k, ShellErrorKind::UnterminatedQuote { quote: '"' }),
            5,
        ),
        (
            "ab'c",
            |k| matches!(k, ShellErrorKind::UnterminatedQuote { quote: '\'' }),
            5,
        ),
        (
            "he${PWD",
            |k| matches!(k, ShellErrorKind::UnsupportedModifier { .. }),
            8,
        ),
        ("x${}", |k| matches!(k, ShellErrorKind::BadSubstitution), 4),
        ("한${", |k| matches!(k, ShellErrorKind::MissingBrace), 4),
        (
            "${A:-${B}",
            |k| matches!(k, ShellErrorKind::MissingBrace),
            10,
        ),
    ];
    for (input, is_expected, column) in cases {
        let err = lexer.process_word(input, &env(&[])).unwrap_err();
        assert!(is_expected(&err.kind), "{input}: {:?}", err.kind);
        assert_eq!(err.word, input);
        assert_eq!(err.column, column, "column for {input}");
        assert!(err.to_string().contains(&format!("'{input}'")), "{err}");
        // Splitting into fields fails the same way.
        assert_eq!(lexer.process_words(input, &env(&[])).unwrap_err(), err);
    }
    let msg = lexer
        .process_word("x${}", &env(&[]))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("bad substitution") && msg.contains("column 4"),
        "{msg}"
    );
}

#[test]
fn long_words_are_shortened_in_messages() {
    let input = format!("{}'", "a".repeat(10_000));
    let err = Lexer::new('\\')
        .process_word(&input, &env(&[]))
        .unwrap_err();
    assert_eq!(err.word, input);
    assert!(err.to_string().len() < 600, "{}", err.to_string().len());
    assert!(err.to_string().contains("10001 characters"));
}
