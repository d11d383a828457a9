//! `kiln lint`, `kiln debug parse` and `kiln debug graph` as users run them: output,
//! exit codes, stdin, and graph digests that are the same in two separate processes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn kiln(args: &[&str], stdin: Option<&[u8]>, dir: &Path) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .current_dir(dir)
        .env("KILN_ROOT", dir.join("root"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kiln");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("kiln output")
}

fn fixture(rel: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/frontend")
        .join(rel)
        .display()
        .to_string()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn debug_parse_matches_buildkit_dump() {
    let dir = tempfile::tempdir().unwrap();
    let case = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/conformance/buildkit-parser/testfiles/brimstone-consuldock");
    let want = std::fs::read_to_string(case.join("result")).expect("conformance result file");
    let out = kiln(
        &[
            "debug",
            "parse",
            "-f",
            &case.join("Dockerfile").display().to_string(),
        ],
        None,
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), want);
}

#[test]
fn dockerfile_defaults_to_the_current_directory_and_dash_reads_stdin() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), "FROM alpine\nRUN echo hi\n").unwrap();
    let out = kiln(&["debug", "parse"], None, dir.path());
    assert_eq!(text(&out.stdout), "(from \"alpine\")\n(run \"echo hi\")\n");
    let out = kiln(
        &["debug", "parse", "-f", "-"],
        Some(b"from x\ncmd [\"a\"]\n"),
        dir.path(),
    );
    assert_eq!(text(&out.stdout), "(from \"x\")\n(cmd \"a\")\n");
}

#[test]
fn parse_errors_show_the_caret_and_exit_125() {
    let dir = tempfile::tempdir().unwrap();
    // The raw parser keeps unknown keywords (as BuildKit's does); the typed layer rejects them.
    let unknown = b"FROM alpine\nFORM x\n";
    for cmd in [&["debug", "graph", "-f", "-"][..], &["lint", "-f", "-"]] {
        let out = kiln(cmd, Some(unknown), dir.path());
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{cmd:?}: {err}");
        assert!(
            err.contains("<stdin>:2:1: unknown instruction: FORM (did you mean `FROM`?)"),
            "{err}"
        );
        assert!(err.contains("  2 | FORM x\n    | ^"), "{err}");
    }
    let unterminated = b"FROM alpine\nRUN <<EOF\necho\n";
    for cmd in [
        &["debug", "parse", "-f", "-"][..],
        &["debug", "graph", "-f", "-"],
        &["lint", "-f", "-"],
    ] {
        let out = kiln(cmd, Some(unterminated), dir.path());
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{cmd:?}: {err}");
        assert!(err.contains("<stdin>:2:5: unterminated heredoc"), "{err}");
        assert!(err.contains("  2 | RUN <<EOF"), "{err}");
    }
    let out = kiln(&["lint", "-f", "does-not-exist"], None, dir.path());
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("cannot read the Dockerfile does-not-exist"));
}

#[test]
fn graph_digests_are_identical_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture("compile/copy.Dockerfile");
    let first = kiln(
        &["debug", "graph", "-f", &f, "--platform", "linux/amd64"],
        None,
        dir.path(),
    );
    let second = kiln(
        &["debug", "graph", "-f", &f, "--platform", "linux/amd64"],
        None,
        dir.path(),
    );
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    assert_eq!(first.stdout, second.stdout);
    let json: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    let root = json["root"].as_str().unwrap().to_string();
    assert!(root.starts_with("sha256:") && root.len() == 71);
    assert_eq!(
        json["vertices"].as_array().unwrap().last().unwrap()["digest"],
        root.as_str()
    );
    assert_eq!(json["platform"], "linux/amd64");
    assert_eq!(json["config"]["WorkingDir"], "/app");

    // A build arg a RUN sees changes the digest; the DOT form names the same root.
    let args = fixture("compile/args.Dockerfile");
    let a = kiln(&["debug", "graph", "-f", &args], None, dir.path());
    let b = kiln(
        &["debug", "graph", "-f", &args, "--build-arg", "STAGE_ARG=x"],
        None,
        dir.path(),
    );
    let root_of = |o: &Output| {
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["root"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_ne!(root_of(&a), root_of(&b));
    let dot = kiln(
        &["debug", "graph", "-f", &args, "--format", "dot"],
        None,
        dir.path(),
    );
    let dot = text(&dot.stdout);
    assert!(
        dot.starts_with("digraph kiln {") && dot.contains(&root_of(&a)),
        "{dot}"
    );
    let target = kiln(
        &["debug", "graph", "-f", &args, "--target", "nope"],
        None,
        dir.path(),
    );
    assert_eq!(target.status.code(), Some(125));
    assert!(text(&target.stderr).contains("the stages are: base, child"));
}

#[test]
fn lint_exit_codes_and_formats() {
    let dir = tempfile::tempdir().unwrap();
    let warn = kiln(
        &[
            "lint",
            "-f",
            &fixture("lint/StageNameCasing.bad.Dockerfile"),
        ],
        None,
        dir.path(),
    );
    assert_eq!(warn.status.code(), Some(0));
    assert!(text(&warn.stdout)
        .contains("WARN: StageNameCasing - Stage name 'Build' should be lowercase (line 1)"));
    let error = kiln(
        &["lint", "-f", &fixture("lint/check-error.Dockerfile")],
        None,
        dir.path(),
    );
    assert_eq!(error.status.code(), Some(1));
    let clean = kiln(
        &[
            "lint",
            "-f",
            &fixture("lint/check-error-clean.Dockerfile"),
            "--format",
            "json",
        ],
        None,
        dir.path(),
    );
    assert_eq!(clean.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&clean.stdout).unwrap();
    assert_eq!(json["warnings"].as_array().map(Vec::len), Some(0));
    let json = kiln(
        &[
            "lint",
            "-f",
            &fixture("lint/UndefinedVar.bad.Dockerfile"),
            "--format",
            "json",
        ],
        None,
        dir.path(),
    );
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["warnings"][0]["rule"], "UndefinedVar");
    assert_eq!(json["warnings"][0]["line"], 2);
}
