//! Logical lines: directives, comments, continuations, BOM, CRLF, keyword case, flags,
//! warnings, and the fields of the raw AST.

use kiln_frontend::parser::{parse, WarningKind};

fn dump(src: &str) -> String {
    parse("Dockerfile", src.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"))
        .dump()
}

#[test]
fn directives_are_recorded_with_lines() {
    let r = parse(
        "Dockerfile",
        b"# syntax=docker/dockerfile:1\n#  check = skip=all;error=true\n# escape=`\nFROM a\n",
    )
    .unwrap();
    let d: Vec<_> = r
        .directives
        .iter()
        .map(|d| (d.name.as_str(), d.value.as_str(), d.line))
        .collect();
    assert_eq!(
        d,
        [
            ("syntax", "docker/dockerfile:1", 1),
            ("check", "skip=all;error=true", 2),
            ("escape", "`", 3)
        ]
    );
    assert_eq!(r.escape, '`');
    assert!(
        r.nodes[0].comments.is_empty(),
        "directives are not comments"
    );
}

#[test]
fn backtick_escape_continues_lines_and_keeps_backslashes() {
    assert_eq!(
        dump("# escape=`\nFROM a\nRUN dir c:\\ `\n  && echo\n"),
        "(from \"a\")\n(run \"dir c:\\\\   && echo\")"
    );
}

#[test]
fn bom_crlf_and_keyword_case() {
    let r = parse(
        "Dockerfile",
        b"\xef\xbb\xbffRoM a AS b\r\nrun echo \\\r\n  hi\r\n",
    )
    .unwrap();
    assert_eq!(r.nodes[0].keyword, "fRoM");
    assert_eq!(r.nodes[0].name, "from");
    assert_eq!(r.dump(), "(from \"a\" \"AS\" \"b\")\n(run \"echo   hi\")");
}

#[test]
fn comments_before_an_instruction_are_kept() {
    let r = parse(
        "Dockerfile",
        b"FROM a\n# first\n\n# second\nRUN x\n#\nRUN y\n",
    )
    .unwrap();
    assert_eq!(r.nodes[1].comments, ["first", "second"]);
    assert!(
        r.nodes[2].comments.is_empty(),
        "an empty comment resets them"
    );
}

#[test]
fn comments_and_blank_lines_inside_continuations() {
    let r = parse("Dockerfile", b"FROM a\nRUN a \\\n# c\n   \n  b\n").unwrap();
    assert_eq!(r.nodes[1].args, ["a   b"]);
    assert_eq!((r.nodes[1].start_line, r.nodes[1].end_line), (2, 5));
    assert_eq!(r.warnings.len(), 1);
    assert_eq!(r.warnings[0].kind, WarningKind::EmptyContinuationLine);
    assert_eq!(r.warnings[0].line, 5);
    assert_eq!(
        r.warnings[0].message,
        "Empty continuation line found in: RUN a   b"
    );
}

#[test]
fn original_flags_json_and_onbuild() {
    let r = parse(
        "Dockerfile",
        b"FROM --platform=$BUILDPLATFORM a\nCOPY --chmod=755 --link [\"a b\", \"/c\"]\nONBUILD --x ADD y z\nHEALTHCHECK NONE\nSTOPSIGNAL SIGKILL\nSHELL [\"bash\", \"-c\"]\nMAINTAINER me <m@e>\n",
    )
    .unwrap();
    let n = &r.nodes;
    assert_eq!(n[0].flags, ["--platform=$BUILDPLATFORM"]);
    assert_eq!(n[1].original, "COPY --chmod=755 --link [\"a b\", \"/c\"]");
    assert!(n[1].json);
    assert_eq!(n[1].args, ["a b", "/c"]);
    assert_eq!(
        r.dump(),
        "(from [\"--platform=$BUILDPLATFORM\"] \"a\")\n\
         (copy [\"--chmod=755\" \"--link\"] \"a b\" \"/c\")\n\
         (onbuild [\"--x\"] (add \"y\" \"z\"))\n\
         (healthcheck \"NONE\")\n\
         (stopsignal \"SIGKILL\")\n\
         (shell \"bash\" \"-c\")\n\
         (maintainer \"me <m@e>\")"
    );
}

#[test]
fn unknown_keywords_are_kept_as_nodes() {
    assert_eq!(dump("FROM a\nFORM b c\n"), "(from \"a\")\n(form \"\")");
}
