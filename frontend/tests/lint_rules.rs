//! Every build check against its fixtures in `testdata/frontend/lint/`: the `.bad`
//! Dockerfile fires the rule, the `.good` one does not; plus the `check` directive.

mod common;

use common::testdata;
use kiln_frontend::compile::{CompileOptions, NoImages};
use kiln_frontend::lint::{lint, LintReport, Rule};

fn run(name: &str) -> LintReport {
    lint(
        name,
        &testdata("lint", name),
        &CompileOptions::default(),
        &NoImages,
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn fired(report: &LintReport) -> Vec<Rule> {
    report.warnings.iter().map(|w| w.rule).collect()
}

#[test]
fn every_rule_fires_on_its_bad_fixture_and_not_on_its_good_one() {
    for rule in Rule::ALL {
        let bad = run(&format!("{}.bad.Dockerfile", rule.name()));
        assert!(
            fired(&bad).contains(&rule),
            "{rule} did not fire on its bad fixture: {:?}",
            bad.warnings
        );
        let good = run(&format!("{}.good.Dockerfile", rule.name()));
        assert!(
            !fired(&good).contains(&rule),
            "{rule} fired on its good fixture: {:?}",
            good.warnings
        );
        assert!(
            good.error.is_none(),
            "{rule}: good fixture failed: {:?}",
            good.error
        );
    }
}

#[test]
fn messages_and_lines_match_buildkit() {
    let cases = [
        ("StageNameCasing", "Stage name 'Build' should be lowercase", 1),
        ("FromAsCasing", "'as' and 'FROM' keywords' casing do not match", 1),
        ("NoEmptyContinuation", "Empty continuation line", 4),
        ("ConsistentInstructionCasing", "Command 'run' should match the case of the command majority (uppercase)", 2),
        ("DuplicateStageName", "Duplicate stage name \"base\", stage names should be unique", 3),
        ("ReservedStageName", "Stage name should not use the same name as reserved stage \"scratch\"", 1),
        ("JSONArgsRecommended", "JSON arguments recommended for ENTRYPOINT to prevent unintended behavior related to OS signals", 2),
        ("MaintainerDeprecated", "Maintainer instruction is deprecated in favor of using label", 2),
        ("UndefinedArgInFrom", "FROM argument 'NODE_VERSION' is not declared", 1),
        ("WorkdirRelativePath", "Relative workdir \"usr/share/nginx/html\" can have unexpected results if the base image changes", 2),
        ("UndefinedVar", "Usage of undefined variable '$PAHT' (did you mean $PATH?)", 2),
        ("MultipleInstructionsDisallowed", "Multiple CMD instructions should not be used in the same stage because only the last one will be used", 2),
        ("LegacyKeyValueFormat", "\"ENV key=value\" should be used instead of legacy \"ENV key value\" format", 2),
        ("SecretsUsedInArgOrEnv", "Do not use ARG or ENV instructions for sensitive data (ARG \"AWS_SECRET_ACCESS_KEY\")", 2),
        ("InvalidDefaultArgInFrom", "Default value for ARG busybox:${TAG} results in empty or invalid base image name", 2),
        ("FromPlatformFlagConstDisallowed", "FROM --platform flag should not use constant value \"linux/amd64\"", 1),
        ("ExposeProtoCasing", "Defined protocol '80/TcP' in EXPOSE instruction should be lowercase", 2),
        ("ExposeInvalidFormat", "EXPOSE instruction should not define an IP address or host-port mapping, found '127.0.0.1:80:80'", 2),
        ("RedundantTargetPlatform", "Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior", 1),
    ];
    for (rule, message, line) in cases {
        let report = run(&format!("{rule}.bad.Dockerfile"));
        let w = report
            .warnings
            .iter()
            .find(|w| w.rule.name() == rule)
            .unwrap_or_else(|| panic!("{rule} missing"));
        assert_eq!(w.message, message, "{rule}");
        assert_eq!(w.start_line, line, "{rule}");
    }
}

#[test]
fn check_skip_directive_and_instruction_comments() {
    let report = run("check-skip.Dockerfile");
    let rules = fired(&report);
    assert!(!rules.contains(&Rule::StageNameCasing));
    assert!(!rules.contains(&Rule::FromAsCasing));
    // The comment above line 4 skips the rule for that instruction only.
    let maint: Vec<usize> = report
        .warnings
        .iter()
        .filter(|w| w.rule == Rule::MaintainerDeprecated)
        .map(|w| w.start_line)
        .collect();
    assert_eq!(maint, [5]);
    assert!(run("check-skip-all.Dockerfile").warnings.is_empty());
}

#[test]
fn check_error_makes_warnings_fail() {
    let failing = run("check-error.Dockerfile");
    assert_eq!(fired(&failing), [Rule::FromAsCasing]);
    assert!(failing.fails());
    assert!(failing
        .to_text()
        .contains("ERROR: FromAsCasing - 'as' and 'FROM' keywords' casing do not match (line 2)"));
    let clean = run("check-error-clean.Dockerfile");
    assert!(clean.warnings.is_empty() && !clean.fails());
    // Plain warnings never fail.
    assert!(!run("FromAsCasing.bad.Dockerfile").fails());
}

#[test]
fn text_and_json_output() {
    let report = run("StageNameCasing.bad.Dockerfile");
    let text = report.to_text();
    assert!(
        text.starts_with("Check complete, 1 warning has been found!\n"),
        "{text}"
    );
    assert!(
        text.contains("WARN: StageNameCasing - Stage name 'Build' should be lowercase (line 1)\n")
    );
    assert!(
        text.contains("  --> StageNameCasing.bad.Dockerfile:1\n     1 | FROM alpine AS Build\n"),
        "{text}"
    );
    assert!(text.contains("  fix: write the stage name after AS in lowercase"));
    let json = report.to_json();
    assert_eq!(json["warnings"][0]["rule"], "StageNameCasing");
    assert_eq!(json["warnings"][0]["line"], 1);
    assert_eq!(
        run("StageNameCasing.good.Dockerfile").to_text(),
        "Check complete, no warnings found.\n"
    );
}

#[test]
fn unparsable_dockerfile_is_an_error_and_compile_errors_are_reported() {
    let err = lint(
        "Dockerfile",
        b"FROM alpine\nFORM x\n",
        &CompileOptions::default(),
        &NoImages,
    )
    .unwrap_err();
    assert!(err.to_string().contains("unknown instruction"), "{err}");
    let report = lint(
        "Dockerfile",
        b"FROM alpine AS a\nCOPY --from=b /x /x\nFROM alpine AS b\nCOPY --from=a /y /y\n",
        &CompileOptions::default(),
        &NoImages,
    )
    .unwrap();
    assert!(
        report
            .error
            .as_deref()
            .unwrap_or("")
            .contains("circular dependency"),
        "{:?}",
        report.error
    );
    assert!(report.fails());
}

#[test]
fn lint_checks_every_stage_without_target_but_only_needed_ones_with_it() {
    let data = b"FROM alpine AS unused\nWORKDIR rel\nFROM alpine AS final\nRUN true\n";
    let all = lint("Dockerfile", data, &CompileOptions::default(), &NoImages).unwrap();
    assert!(fired(&all).contains(&Rule::WorkdirRelativePath));
    let opts = CompileOptions {
        target: Some("final".into()),
        ..CompileOptions::default()
    };
    let targeted = lint("Dockerfile", data, &opts, &NoImages).unwrap();
    assert!(!fired(&targeted).contains(&Rule::WorkdirRelativePath));
}

#[test]
fn from_arg_checks_distinguish_undeclared_from_declared_without_default() {
    let typo = lint(
        "Dockerfile",
        b"ARG NODE_VERSION=22\nFROM node:$NODE_VERSON\n",
        &CompileOptions::default(),
        &NoImages,
    )
    .unwrap();
    let w = typo
        .warnings
        .iter()
        .find(|w| w.rule == Rule::UndefinedArgInFrom)
        .expect("UndefinedArgInFrom");
    assert_eq!(
        w.message,
        "FROM argument 'NODE_VERSON' is not declared (did you mean NODE_VERSION?)"
    );
    // Declared but without a default: not "undeclared", but an invalid default.
    let report = run("InvalidDefaultArgInFrom.bad.Dockerfile");
    assert!(!fired(&report).contains(&Rule::UndefinedArgInFrom));
}
