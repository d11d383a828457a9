//! Runs BuildKit's shell-lexer vectors (`envVarTest`, `wordsTest`) from
//! ../shared/conformance/buildkit-shell (see its README for the formats). Every failing
//! case is reported with its line number; case counts are asserted so a file that was
//! silently skipped or truncated fails too.

use std::path::PathBuf;

use kiln_frontend::shell::Lexer;

/// `A` + `U` lines of envVarTest: everything a Linux build must agree on.
const ENV_VAR_LINUX_CASES: usize = 228;
const WORDS_CASES: usize = 24;

fn vectors(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/conformance/buildkit-shell")
        .join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read conformance vectors {}: {err}", path.display()))
}

/// Every case of `file` passed, and as many ran as expected (a truncated or skipped file
/// fails too).
fn assert_all_passed(file: &str, failures: &[String], ran: usize, expected_cases: usize) {
    assert!(
        failures.is_empty(),
        "{file}: {} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(ran, expected_cases, "{file} case count changed");
}

fn pair(key: &str, value: &str) -> (String, String) {
    (key.to_owned(), value.to_owned())
}

#[test]
fn env_var_test_linux_cases() {
    let env = vec![
        pair("PWD", "/home"),
        pair("SHELL", "bash"),
        pair("KOREAN", "한국어"),
        pair("NULL", ""),
    ];
    let lexer = Lexer::new('\\');
    let mut ran = 0;
    let mut failures = Vec::new();
    for (index, line) in vectors("envVarTest").lines().enumerate() {
        let number = index + 1;
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.trim().split('|').map(str::trim).collect();
        let [platform, input, expected] = fields[..] else {
            panic!("envVarTest line {number}: expected 3 '|'-separated fields: {line:?}");
        };
        match platform {
            "A" | "U" => {}
            "W" => continue,
            other => panic!("envVarTest line {number}: unknown platform tag {other:?}"),
        }
        ran += 1;
        let got = lexer.process_word(input, &env);
        let ok = match (&got, expected) {
            (Err(_), "error") => true,
            (Ok(word), expected) => expected != "error" && word == expected,
            (Err(_), _) => false,
        };
        if !ok {
            failures.push(format!(
                "line {number}: {input:?} -> {got:?}, expected {expected:?}"
            ));
        }
    }
    assert_all_passed("envVarTest", &failures, ran, ENV_VAR_LINUX_CASES);
}

#[test]
fn words_test_cases() {
    let lexer = Lexer::new('\\');
    let mut env: Vec<(String, String)> = Vec::new();
    let mut ran = 0;
    let mut failures = Vec::new();
    for (index, line) in vectors("wordsTest").lines().enumerate() {
        let number = index + 1;
        if line.starts_with('#') {
            continue;
        }
        if let Some(assignment) = line.strip_prefix("ENV ") {
            // Taken verbatim after left-trimming: values keep their inner and trailing blanks.
            let assignment = assignment.trim_start_matches(' ');
            let (key, value) = assignment.split_once('=').unwrap_or((assignment, ""));
            env.push(pair(key, value));
            continue;
        }
        let fields: Vec<&str> = line.split('|').collect();
        let [input, expected] = fields[..] else {
            panic!("wordsTest line {number}: expected exactly one '|': {line:?}");
        };
        let input = input.trim();
        let expected: Vec<&str> = expected.trim_start_matches(' ').split(',').collect();
        ran += 1;
        let got = match lexer.process_words(input, &env) {
            Ok(words) => words,
            Err(_) => vec!["error".to_owned()],
        };
        if got != expected {
            failures.push(format!(
                "line {number}: {input:?} -> {got:?}, expected {expected:?}"
            ));
        }
    }
    assert_all_passed("wordsTest", &failures, ran, WORDS_CASES);
}
