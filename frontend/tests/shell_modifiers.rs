//! The `${V<op>...}` forms beyond BuildKit's data files: BuildKit's Go-only table
//! (TestProcessWithMatches) plus our own cases, each checking the result and which names
//! were matched and unmatched. Expected values were cross-checked against BuildKit's lexer.

mod common;

use common::{check, env, fails};
use kiln_frontend::shell::{Lexer, ShellErrorKind};

#[test]
fn plain_references_record_names() {
    check("x", &[("DUMMY", "dummy")], "x", &[], &[]);
    check("x ${UNUSED}", &[("DUMMY", "dummy")], "x ", &[], &["UNUSED"]);
    check("x ${FOO}", &[("FOO", "y")], "x y", &["FOO"], &[]);
    check("$A$B$A", &[("A", "1")], "11", &["A"], &["B"]);
}

#[test]
fn default_and_alternative_distinguish_empty_from_unset() {
    let vars = [("FOO", "xxx"), ("BAR", "")];
    check(
        "${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}",
        &vars,
        "xxx  ccc",
        &["FOO", "BAR"],
        &["BAZ"],
    );
    check(
        "${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}",
        &vars,
        "xxx bbb ccc",
        &["FOO", "BAR"],
        &["BAZ"],
    );
    check(
        "${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}",
        &vars,
        "aaa bbb ",
        &["FOO", "BAR"],
        &["BAZ"],
    );
    check(
        "${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}",
        &vars,
        "aaa  ",
        &["FOO", "BAR"],
        &["BAZ"],
    );
    check("${FOO:-}", &vars, "xxx", &["FOO"], &[]);
    check("${FOO:-}", &[], "", &[], &["FOO"]);
}

#[test]
fn required_variables() {
    let vars = [("FOO", "xxx"), ("BAR", "")];
    check("${FOO?aaa}", &vars, "xxx", &["FOO"], &[]);
    check("${BAR?bbb}", &vars, "", &["BAR"], &[]);
    check("${FOO:?aaa}", &vars, "xxx", &["FOO"], &[]);
    for input in ["${BAZ?ccc}", "${BAR:?bbb}", "${BAZ:?ccc}", "${BAZ:?}"] {
        assert!(
            matches!(fails(input, &vars), ShellErrorKind::Required { .. }),
            "{input}"
        );
    }
}

#[test]
fn required_messages_are_expanded_and_named() {
    let lexer = Lexer::new('\\');
    let with_arg = |v: Option<&str>| {
        let mut vars = env(&[("ARG", "x")]);
        if let Some(v) = v {
            vars.push(("VAR".to_owned(), v.to_owned()));
        }
        vars
    };
    let no_empty = "${VAR:?message here$ARG}";
    let no_unset = "${VAR?message here$ARG}";
    assert_eq!(
        lexer
            .process_word(no_empty, &with_arg(Some("plain")))
            .unwrap(),
        "plain"
    );
    assert_eq!(
        lexer.process_word(no_unset, &with_arg(Some(""))).unwrap(),
        ""
    );
    for (word, value) in [(no_empty, Some("")), (no_empty, None), (no_unset, None)] {
        let err = lexer.process_word(word, &with_arg(value)).unwrap_err();
        assert_eq!(err.kind.to_string(), "VAR: message herex");
        assert!(err.to_string().contains(word), "{err}");
    }
    let err = lexer.process_word("${VAR?}", &with_arg(None)).unwrap_err();
    assert_eq!(err.kind.to_string(), "VAR: is not allowed to be unset");
    let err = lexer
        .process_word("${VAR:?}", &with_arg(Some("")))
        .unwrap_err();
    assert_eq!(err.kind.to_string(), "VAR: is not allowed to be empty");
}

#[test]
fn assignment_and_unknown_operators_are_refused() {
    let vars = [("FOO", "xxx"), ("BAR", "")];
    for input in [
        "${FOO=aaa}",
        "${FOO=:aaa}",
        "${FOO=}",
        "${FOO:=x}",
        "${FOO:YYY}",
    ] {
        assert!(
            matches!(
                fails(input, &vars),
                ShellErrorKind::UnsupportedModifier { .. }
            ),
            "{input}"
        );
    }
    for input in ["${FOO:#}", "${FOO:##}", "${FOO:%}", "${FOO:%%}"] {
        match fails(input, &[]) {
            ShellErrorKind::UnsupportedModifier { modifier } => assert!(modifier.starts_with(':')),
            other => panic!("{input}: {other:?}"),
        }
    }
}

#[test]
fn prefix_removal() {
    let foo = |v| [("FOO", v)];
    check("${FOO#*x*y}", &foo("xxyy"), "y", &["FOO"], &[]);
    check("${FOO#*}", &foo("xxyy"), "xxyy", &["FOO"], &[]);
    check("${FOO#}", &foo("xxyy"), "xxyy", &["FOO"], &[]);
    check("${FOO##*x}", &foo("xxyy"), "yy", &["FOO"], &[]);
    check("${FOO##}", &foo("xxyy"), "xxyy", &["FOO"], &[]);
    check("${FOO#?\\?}", &foo("???y"), "?y", &["FOO"], &[]);
    check("${FOO#*/}", &foo("a/b/c"), "b/c", &["FOO"], &[]);
    check("${FOO##*/}", &foo("a/b/c"), "c", &["FOO"], &[]);
    check("${FOO#?}", &foo("한국어"), "국어", &["FOO"], &[]);
    check("${FOO#nomatch}", &foo("abc"), "abc", &["FOO"], &[]);
    check("${UNSET#a}", &[], "", &[], &["UNSET"]);
    // Regexp metacharacters are literal; `}` must be escaped to stay in the pattern.
    check(
        "${FOO#()[]{\\}^$.\\*\\?|\\\\}",
        &foo("()[]{}^$.*?|\\x"),
        "x",
        &["FOO"],
        &[],
    );
}

#[test]
fn prefix_patterns_are_expanded_first() {
    check(
        "${FOO#$BAR}",
        &[("FOO", "xxyy"), ("BAR", "x")],
        "xyy",
        &["FOO", "BAR"],
        &[],
    );
    check(
        "${FOO#$BAR}",
        &[("FOO", "xxyy"), ("BAR", "")],
        "xxyy",
        &["FOO", "BAR"],
        &[],
    );
    // The doubled operator may itself come from the expansion, as in BuildKit.
    check(
        "${FOO#$H}",
        &[("FOO", "xxyy"), ("H", "#*x")],
        "yy",
        &["FOO", "H"],
        &[],
    );
    // Unlike bash, quoting does not make a wildcard literal: quotes are removed first.
    check("${FOO#\"*\"}", &[("FOO", "*a")], "*a", &["FOO"], &[]);
}

#[test]
fn suffix_removal() {
    let foo = |v| [("FOO", v)];
    check("${FOO%%\\**}", &foo("xx**"), "xx", &["FOO"], &[]);
    check("${FOO%%\\**\\*}", &foo("a***yy*"), "a", &["FOO"], &[]);
    check("${FOO%}", &foo("xxyy"), "xxyy", &["FOO"], &[]);
    check(
        "${FOO%%$BAR}",
        &[("FOO", "xxyy"), ("BAR", "")],
        "xxyy",
        &["FOO", "BAR"],
        &[],
    );
    check(
        "${ABC:-.}${FOO%x}${ABC:-.}",
        &foo("xxyy"),
        ".xxyy.",
        &["FOO"],
        &["ABC"],
    );
    check("${FOO%.*}", &foo("file.tar.gz"), "file.tar", &["FOO"], &[]);
    check("${FOO%%.*}", &foo("file.tar.gz"), "file", &["FOO"], &[]);
    check("${FOO%?}", &foo("한국어"), "한국", &["FOO"], &[]);
    // BuildKit reverses the pattern text, so a trailing lone `\` escapes what precedes it.
    check("${FOO%'*\\'}", &foo("ab*"), "ab", &["FOO"], &[]);
}

#[test]
fn brackets_are_literal_and_wildcards_stop_at_newlines() {
    let foo = |v| [("FOO", v)];
    check("${FOO#[a]}", &foo("[a]b"), "b", &["FOO"], &[]);
    check("${FOO#[a]}", &foo("ab"), "ab", &["FOO"], &[]);
    check("${FOO##*}", &foo("a\nb"), "\nb", &["FOO"], &[]);
    check("${FOO%%*}", &foo("a\nb"), "a\n", &["FOO"], &[]);
    check("${FOO//x*/-}", &foo("axbx\nxc"), "a-\n-", &["FOO"], &[]);
}

#[test]
fn nested_operands_record_every_name() {
    let release =
        "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz";
    let base = [("VERSION", "v1.2.3"), ("TARGETOS", "linux")];
    let arm = [
        base[0],
        base[1],
        ("TARGETARCH", "arm"),
        ("TARGETVARIANT", "v7"),
    ];
    let all = ["VERSION", "TARGETOS", "TARGETARCH", "TARGETVARIANT"];
    check(
        release,
        &arm,
        "something-v1.2.3.linux-arm-v7.tar.gz",
        &all,
        &[],
    );
    let empty = [
        base[0],
        base[1],
        ("TARGETARCH", "arm64"),
        ("TARGETVARIANT", ""),
    ];
    check(
        release,
        &empty,
        "something-v1.2.3.linux-arm64.tar.gz",
        &all,
        &[],
    );
    let unset = [base[0], base[1], ("TARGETARCH", "arm64")];
    check(
        release,
        &unset,
        "something-v1.2.3.linux-arm64.tar.gz",
        &all[..3],
        &["TARGETVARIANT"],
    );
}

#[test]
fn positional_and_special_parameters_are_names() {
    check(
        "$1 ${@} $#x ${#:-d} $$",
        &[],
        "  x d ",
        &[],
        &["#", "$", "1", "@"],
    );
    check("$0", &[("0", "zero")], "zero", &["0"], &[]);
}
