//! Bad input: every error names file, line and column, shows a caret, says what is
//! expected; garbage, empty files, NUL bytes, invalid UTF-8 and huge inputs never
//! panic or hang.

use kiln_frontend::parser::{parse, ParseError, MAX_LINE_LEN};

fn err(src: &[u8]) -> ParseError {
    parse("build/Dockerfile", src).expect_err("must be rejected")
}

#[test]
fn env_without_value_points_at_the_end() {
    let e = err(b"FROM busybox\n\nENV PATH\n");
    assert_eq!(
        e.to_string(),
        "build/Dockerfile:3:9: ENV must have two arguments\n  3 | ENV PATH\n    |         ^\n\
         expected: `ENV name=value` (or the legacy `ENV name value`)"
    );
}

#[test]
fn label_word_without_equals() {
    let e = err(b"FROM a\nLABEL a=b c\n");
    assert!(matches!(e, ParseError::MissingEquals { .. }));
    let text = e.to_string();
    assert!(
        text.starts_with("build/Dockerfile:2:11: Syntax error - can't find = in \"c\""),
        "{text}"
    );
    assert!(text.contains("    |           ^"), "{text}");
}

#[test]
fn nested_json_points_at_the_array() {
    let e = err(b"FROM a\nCMD [ \"echo\", [ \"nested\" ] ]\n");
    assert_eq!(e.location().map(|l| (l.line, l.column)), Some((2, 5)));
    assert!(e
        .to_string()
        .contains("arrays must be comprised of strings only"));
}

#[test]
fn empty_and_comment_only_files() {
    for src in [&b""[..], b"\n\n", b"# just a comment\n", b"\xef\xbb\xbf"] {
        let e = err(src);
        assert!(matches!(e, ParseError::NoInstructions { .. }), "{e}");
        assert!(e.to_string().contains("file with no instructions"));
    }
}

#[test]
fn binary_garbage_nul_and_invalid_utf8() {
    let e = err(b"FROM a\nRUN x\x00y\n");
    assert!(matches!(e, ParseError::NulByte { .. }));
    assert_eq!(e.location().map(|l| (l.line, l.column)), Some((2, 6)));
    let e = err(b"FROM a\n\xfe\xff garbage\n");
    assert!(matches!(e, ParseError::InvalidUtf8 { byte: 0xfe, .. }));
    assert!(e
        .to_string()
        .starts_with("build/Dockerfile:2:1: the Dockerfile is not valid UTF-8"));
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    assert!(parse("f", &garbage).is_err());
}

#[test]
fn bad_directives() {
    let e = err(b"# escape=x\nFROM a\n");
    assert!(e
        .to_string()
        .contains("invalid escape token 'x' does not match ` or \\"));
    assert_eq!(e.location().map(|l| (l.line, l.column)), Some((1, 10)));
    let e = err(b"# syntax=a\n# SYNTAX=b\nFROM a\n");
    assert!(e
        .to_string()
        .contains("only one syntax parser directive can be used"));
    assert_eq!(e.location().map(|l| l.line), Some(2));
}

#[test]
fn over_long_line_is_an_error_not_a_panic() {
    let long = format!("FROM a\nRUN {}\n", "x".repeat(MAX_LINE_LEN));
    let e = err(long.as_bytes());
    assert!(
        matches!(e, ParseError::LineTooLong { len: 65539, .. }),
        "{e}"
    );
    assert_eq!(e.location().map(|l| l.line), Some(2));
}

#[test]
fn hundred_thousand_continuation_lines_parse() {
    let mut src = String::from("FROM a\nRUN echo \\\n");
    for _ in 0..100_000 {
        src.push_str("  x \\\n");
    }
    src.push_str("  done\n");
    let result = parse("Dockerfile", src.as_bytes()).expect("parses");
    let run = &result.nodes[1];
    assert_eq!((run.start_line, run.end_line), (2, 100_003));
    assert_eq!(
        run.args[0].len(),
        "echo ".len() + 100_000 * 4 + "  done".len()
    );
}

#[test]
fn many_heredoc_markers_and_blank_continuations_stay_linear() {
    let mut src = String::from("FROM a\nRUN cat");
    for i in 0..2_000 {
        src.push_str(&format!(" <<E{i}"));
    }
    src.push('\n');
    for i in 0..2_000 {
        src.push_str(&format!("body\nE{i}\n"));
    }
    let result = parse("Dockerfile", src.as_bytes()).expect("parses");
    assert_eq!(result.nodes[1].heredocs.len(), 2_000);

    let mut blanks = String::from("FROM a\nRUN a \\\n");
    blanks.push_str(&"\n".repeat(100_000));
    blanks.push_str("b\n");
    let result = parse("Dockerfile", blanks.as_bytes()).expect("parses");
    assert_eq!(result.nodes[1].args, ["a b"]);
    assert_eq!(result.warnings.len(), 1);
}

#[test]
fn unterminated_json_falls_back_to_shell_form() {
    let result = parse("Dockerfile", b"FROM a\nCMD [\"a\", \"b\"\n").expect("parses");
    assert_eq!(result.nodes[1].args, ["[\"a\", \"b\""]);
    assert!(!result.nodes[1].json);
}

#[test]
fn deep_onbuild_nesting_is_bounded() {
    let ok = parse("Dockerfile", b"FROM a\nONBUILD ONBUILD RUN x\n").expect("parses");
    assert_eq!(ok.dump(), "(from \"a\")\n(onbuild (onbuild (run \"x\")))");
    let deep = format!("FROM a\n{}RUN x\n", "ONBUILD ".repeat(8_000));
    let e = err(deep.as_bytes());
    assert!(matches!(e, ParseError::TooDeep { depth: 17, .. }), "{e}");
}

#[test]
fn deeply_nested_substitutions_in_a_run_line_do_not_overflow() {
    let deep = format!(
        "FROM a\nRUN <<EOF {}x{}\nbody\nEOF\n",
        "${a:-".repeat(10_000),
        "}".repeat(10_000)
    );
    let result = parse("Dockerfile", deep.as_bytes()).expect("parses");
    // Too deep to lex, so (as for any unreadable line) no heredoc is recognised.
    assert!(result.nodes[1].heredocs.is_empty());
}
