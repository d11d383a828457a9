//! Properties of the parser: it (and the typed conversion) never panics (arbitrary
//! bytes, Dockerfile-shaped text), and printing a parsed AST then parsing it again
//! gives the same AST.

use kiln_frontend::instructions::from_parse_result;
use kiln_frontend::parser::{parse, print_dockerfile, Node, ParseResult};
use proptest::prelude::*;

/// The AST without what printing may change: the original text and line numbers.
fn normalized(r: &ParseResult) -> (Vec<Node>, Vec<(String, String)>, char) {
    fn norm(n: &Node) -> Node {
        let mut n = n.clone();
        n.original.clear();
        n.start_line = 0;
        n.end_line = 0;
        n.child = n.child.as_deref().map(|c| Box::new(norm(c)));
        n
    }
    (
        r.nodes.iter().map(norm).collect(),
        r.directives
            .iter()
            .map(|d| (d.name.clone(), d.value.clone()))
            .collect(),
        r.escape,
    )
}

fn keyword() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("FROM"),
        Just("RUN"),
        Just("CMD"),
        Just("ENTRYPOINT"),
        Just("SHELL"),
        Just("ENV"),
        Just("ARG"),
        Just("LABEL"),
        Just("EXPOSE"),
        Just("VOLUME"),
        Just("WORKDIR"),
        Just("USER"),
        Just("COPY"),
        Just("ADD"),
        Just("HEALTHCHECK"),
        Just("STOPSIGNAL"),
        Just("ONBUILD"),
        Just("MAINTAINER"),
        Just("FORM"),
        Just("onbuild run"),
        Just("Copy"),
        Just("from")
    ]
    .prop_map(str::to_string)
}

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_./:-]{1,8}",
        "[a-z]{1,4}=[a-z0-9 \"'\\\\]{0,6}",
        "\"[a-z \\\\']{0,6}\"",
        "'[a-z \"]{0,6}'",
        "--[a-z]{1,6}(=[a-z0-9\"' ]{0,4})?",
        "\\[ ?(\"[a-z ]{0,4}\"(, ?)?){0,3} ?\\]?",
        Just("<<EOF".to_string()),
        Just("<<-'END'".to_string()),
        Just("2<<X".to_string()),
        Just("$VAR".to_string()),
        Just("${A:-b c}".to_string()),
        Just("\\".to_string()),
        Just("`".to_string()),
        Just("AS".to_string()),
        Just("CMD".to_string()),
        Just("NONE".to_string()),
        Just("--".to_string()),
        "[ \\t]{1,3}",
        "[^\\n\\r]{1,4}",
    ]
}

fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (keyword(), prop::collection::vec(word(), 0..6), prop_oneof![Just(""), Just(" \\"), Just("\\"), Just(" `")])
            .prop_map(|(k, ws, cont)| format!("{k} {}{cont}", ws.join(" "))),
        1 => "#[ a-z=`\\\\]{0,10}".prop_map(|s| s),
        1 => prop_oneof![Just("# escape=`"), Just("# syntax=docker/dockerfile:1"), Just("#check=skip=all")].prop_map(str::to_string),
        1 => Just(String::new()),
        1 => prop_oneof![Just("EOF"), Just("END"), Just("\tEND"), Just("X")].prop_map(str::to_string),
        1 => "[ \\t]{0,3}[a-z \\t]{0,10}",
    ]
}

fn dockerfile() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(line(), 1..20),
        prop_oneof![Just("\n"), Just("\r\n")],
        any::<bool>(),
    )
        .prop_map(|(lines, nl, bom)| {
            format!("{}{}", if bom { "\u{feff}" } else { "" }, lines.join(nl))
        })
}

proptest! {
    // Failures are reported with their minimal input; no regression files in the tree.
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse("Dockerfile", &data);
    }

    #[test]
    fn never_panics_on_arbitrary_text(text in "\\PC{0,300}") {
        let _ = parse("Dockerfile", text.as_bytes());
    }

    #[test]
    fn never_panics_on_dockerfile_shaped_text(text in dockerfile()) {
        if let Ok(result) = parse("Dockerfile", text.as_bytes()) {
            // Dumping must not panic either, and gives one line per instruction.
            prop_assert_eq!(result.dump().lines().count(), result.nodes.len());
            // Nor must typed conversion, whatever it decides.
            let _ = from_parse_result("Dockerfile", text.as_bytes(), &result);
        }
    }

    #[test]
    fn print_then_parse_gives_the_same_ast(text in dockerfile()) {
        // A nameless node (a lone escape character before the end) cannot be printed.
        let parsed = parse("Dockerfile", text.as_bytes())
            .ok()
            .filter(|r| r.nodes.iter().all(|n| !n.keyword.is_empty()));
        if let Some(first) = parsed {
            let printed = print_dockerfile(&first);
            let second = parse("Dockerfile", printed.as_bytes());
            prop_assert!(second.is_ok(), "reparse failed: {:?}\nprinted:\n{}", second.err(), printed);
            if let Ok(second) = second {
                prop_assert_eq!(normalized(&first), normalized(&second), "printed:\n{}", printed);
            }
        }
    }
}

#[test]
fn print_round_trips_awkward_cases() {
    for text in [
        "FROM a\n\\",
        "FROM a\nENV \\   a=",
        "FORM --a=' \\\nFROM ' '",
        "ONBUILD ¡\u{a0} `",
        "ARG  \\\nFROM --a=\" \\\nFROM \\ \\",
        "# escape=`\nFROM a\nRUN x ``",
        "# syntax=x\n# comment\nRUN -- --x\nCOPY --chown=\"a b\" -- --src /d\n",
        // Found by the fuzzer: a tab inside a JSON string makes it invalid JSON.
        "COPY\t[ \"a b\", \"/x\t[ (c\", \"/tmp\" ]\nVOLUME [ \"a\"\t,\t\"b\"\u{b}]\n",
        // Found by the fuzzer: blanks other than space and tab after `<<`.
        "COPY . /d\u{b}<<\u{b}x\nCOPY <<\tEOF /d\nbody\nEOF\nONBUILD ADD 3<<\u{c}y z\n",
    ] {
        let first =
            parse("Dockerfile", text.as_bytes()).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        let printed = print_dockerfile(&first);
        let second =
            parse("Dockerfile", printed.as_bytes()).unwrap_or_else(|e| panic!("{printed:?}: {e}"));
        assert_eq!(
            normalized(&first),
            normalized(&second),
            "{text:?} printed as {printed:?}"
        );
    }
}
