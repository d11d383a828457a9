//! Heredocs in the parser: markers, bodies, tab stripping, quoting, file descriptors,
//! several per line, where they are (not) recognised, and unterminated ones.

use kiln_frontend::parser::{parse, Heredoc, ParseError};

/// (name, content, expand, chomp, fd)
type Doc = (String, String, bool, bool, u32);

fn heredocs(src: &str) -> Vec<Vec<Doc>> {
    let result = parse("Dockerfile", src.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    result
        .nodes
        .iter()
        .map(|n| {
            n.heredocs
                .iter()
                .map(|h: &Heredoc| (h.name.clone(), h.content.clone(), h.expand, h.chomp, h.fd))
                .collect()
        })
        .collect()
}

fn doc(
    name: &str,
    content: &str,
    expand: bool,
    chomp: bool,
    fd: u32,
) -> (String, String, bool, bool, u32) {
    (name.into(), content.into(), expand, chomp, fd)
}

#[test]
fn run_heredoc_body_and_lines() {
    let src = "FROM a\nRUN <<EOF\necho one\n  echo two\nEOF\nRUN true\n";
    let result = parse("Dockerfile", src.as_bytes()).expect("parses");
    let run = &result.nodes[1];
    assert_eq!(run.args, ["<<EOF"]);
    assert_eq!((run.start_line, run.end_line), (2, 5));
    assert_eq!(run.heredocs[0].content, "echo one\n  echo two\n");
    assert_eq!(result.nodes[2].start_line, 6);
    assert_eq!(
        result.dump(),
        "(from \"a\")\n(run \"<<EOF\")\n(run \"true\")"
    );
}

#[test]
fn chomp_quotes_fd_and_several_markers() {
    let src = "FROM a
RUN <<-TABS
\t\tindented $X
\tTABS
RUN <<'RAW' <<\"ALSO\"
body $X
RAW
second
ALSO
COPY 5<<file.txt <<-'two' /dest/
x
file.txt
y
\ttwo
RUN <<END\r
crlf\r
END\r
RUN python3 <<eo'f'
print(1)
eof
";
    let got = heredocs(src);
    assert_eq!(got[1], [doc("TABS", "\t\tindented $X\n", true, true, 0)]);
    assert_eq!(
        got[2],
        [
            doc("RAW", "body $X\n", false, false, 0),
            doc("ALSO", "second\n", false, false, 0)
        ]
    );
    assert_eq!(
        got[3],
        [
            doc("file.txt", "x\n", true, false, 5),
            doc("two", "y\n", false, true, 0)
        ]
    );
    assert_eq!(got[4], [doc("END", "crlf\r\n", true, false, 0)]);
    assert_eq!(got[5], [doc("eof", "print(1)\n", false, false, 0)]);
    let result = parse("Dockerfile", src.as_bytes()).expect("parses");
    assert_eq!(
        result.nodes[1].heredocs[0].chomped_content(),
        "indented $X\n"
    );
}

#[test]
fn escaped_quote_in_delimiter_keeps_expansion() {
    let got = heredocs("FROM a\nRUN <<eo\\'f\nx\neo'f\n");
    assert_eq!(got[1], [doc("eo'f", "x\n", true, false, 0)]);
}

#[test]
fn not_heredocs() {
    // JSON form, quoted markers, instructions that take no heredocs, `<<-` with a space.
    let src = "FROM a\nRUN [\"<<EOF\"]\nRUN echo \"<<EOF\"\nUSER <<EOF\nEOF\nRUN cat <<- EOF\n";
    let result = parse("Dockerfile", src.as_bytes()).expect("parses");
    assert!(result.nodes.iter().all(|n| n.heredocs.is_empty()));
    // USER's `<<EOF` is an argument, and the `EOF` line an (unknown) instruction.
    assert_eq!(result.nodes[3].args, ["<<EOF"]);
    assert_eq!(result.nodes[4].name, "eof");
}

#[test]
fn onbuild_heredocs_attach_to_onbuild() {
    let result = parse("Dockerfile", b"FROM a\nONBUILD RUN <<EOF\nhi\nEOF\n").expect("parses");
    let onbuild = &result.nodes[1];
    assert_eq!(onbuild.heredocs.len(), 1);
    assert_eq!(onbuild.child.as_ref().map(|c| c.name.as_str()), Some("run"));
    assert_eq!(onbuild.dump(), "onbuild (run \"<<EOF\")");
}

#[test]
fn unterminated_heredoc_is_an_error_with_caret() {
    let err = parse("Dockerfile", b"FROM a\nRUN  cat <<EOF\necho hi\n").expect_err("must fail");
    assert!(matches!(&err, ParseError::UnterminatedHeredoc { name, .. } if name == "EOF"));
    let text = err.to_string();
    assert!(
        text.starts_with("Dockerfile:2:10: unterminated heredoc"),
        "{text}"
    );
    assert!(
        text.contains("  2 | RUN  cat <<EOF\n    |          ^"),
        "{text}"
    );
}

#[test]
fn heredoc_terminator_must_match_exactly() {
    let src = "FROM a\nRUN <<EOF\n EOF\nEOF \nEOF\n";
    assert_eq!(
        heredocs(src)[1],
        [doc("EOF", " EOF\nEOF \n", true, false, 0)]
    );
}
