//! BuildKit's parser conformance data (`../shared/conformance/buildkit-parser/`): every
//! `testfiles` case must dump to its `result` byte for byte, every `testfiles-negative`
//! case must be rejected, and `testfile-line` must have BuildKit's line numbers.

use std::fs;
use std::path::{Path, PathBuf};

use kiln_frontend::parser::{parse, ParseError, WarningKind};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/buildkit-parser")
}

fn cases(dir: &str) -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = fs::read_dir(data_dir().join(dir))
        .unwrap_or_else(|e| panic!("cannot read {dir}: {e}"))
        .map(|e| e.expect("directory entry").path())
        .collect();
    cases.sort();
    cases
}

#[test]
fn all_testfiles_match_their_result_byte_for_byte() {
    let cases = cases("testfiles");
    assert_eq!(cases.len(), 33, "expected the 33 upstream cases");
    let mut failures = Vec::new();
    for case in &cases {
        let dockerfile = fs::read(case.join("Dockerfile")).expect("Dockerfile");
        let expected = fs::read_to_string(case.join("result")).expect("result");
        match parse("Dockerfile", &dockerfile) {
            Ok(result) => {
                let got = result.dump() + "\n";
                if got != expected {
                    failures.push(format!(
                        "{}:\n--- expected\n{expected}--- got\n{got}",
                        case.display()
                    ));
                }
            }
            Err(e) => failures.push(format!("{}: unexpected error: {e}", case.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn all_negative_testfiles_are_rejected() {
    let cases = cases("testfiles-negative");
    assert_eq!(cases.len(), 4);
    for case in &cases {
        let dockerfile = fs::read(case.join("Dockerfile")).expect("Dockerfile");
        let err = parse("Dockerfile", &dockerfile)
            .err()
            .unwrap_or_else(|| panic!("{} was accepted", case.display()));
        let name = case
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        match name {
            "empty_dockerfile" | "only_comments" => {
                assert!(
                    matches!(err, ParseError::NoInstructions { .. }),
                    "{name}: {err}"
                )
            }
            "env_no_value" => {
                assert!(
                    matches!(err, ParseError::MissingValue { .. }),
                    "{name}: {err}"
                );
                assert!(err.to_string().contains("ENV must have two arguments"));
                assert_eq!(err.location().map(|l| l.line), Some(3));
            }
            "shykes-nested-json" => {
                assert!(
                    matches!(err, ParseError::NotStringArray { .. }),
                    "{name}: {err}"
                )
            }
            other => panic!("unknown negative case {other}"),
        }
    }
}

#[test]
fn testfile_line_numbers_match_buildkit() {
    let dockerfile = fs::read(data_dir().join("testfile-line/Dockerfile")).expect("Dockerfile");
    let result = parse("Dockerfile", &dockerfile).expect("parses");
    let spans: Vec<(usize, usize)> = result
        .nodes
        .iter()
        .map(|n| (n.start_line, n.end_line))
        .collect();
    assert_eq!(spans, [(5, 5), (11, 12), (17, 31)]);
    assert_eq!(result.nodes.first().map(|n| n.start_line), Some(5));
    assert_eq!(result.nodes.last().map(|n| n.end_line), Some(31));
    // The blank lines inside the continued RUN give one warning, at its last line.
    let warnings: Vec<_> = result
        .warnings
        .iter()
        .map(|w| (w.kind, w.start_line, w.line))
        .collect();
    assert_eq!(warnings, [(WarningKind::EmptyContinuationLine, 17, 31)]);
    assert_eq!(result.directive("escape").map(|d| d.line), Some(1));
}
