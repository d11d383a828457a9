//! The checks that need only the parse tree, run in BuildKit's order before anything is
//! compiled: NoEmptyContinuation, MaintainerDeprecated, StageNameCasing, FromAsCasing,
//! ReservedStageName, DuplicateStageName, ConsistentInstructionCasing.
//!
//! API: [`check_syntax`].

use std::collections::BTreeSet;

use super::linter::Linter;
use super::rules::Rule;
use crate::parser::{Node, ParseResult, WarningKind};

/// Names BuildKit reserves (a stage called `scratch` could never be used as one).
const RESERVED_STAGE_NAMES: [&str; 2] = ["context", "scratch"];

fn lines(node: &Node) -> (usize, usize) {
    (node.start_line, node.end_line)
}

fn is_self_consistent(s: &str) -> bool {
    s == s.to_lowercase() || s == s.to_uppercase()
}

/// `FROM image AS name`: the AS keyword and the name as written.
fn from_as(node: &Node) -> Option<(&str, &str)> {
    match node.args.as_slice() {
        [_, kw, name] if kw.eq_ignore_ascii_case("as") => Some((kw.as_str(), name.as_str())),
        _ => None,
    }
}

/// Runs the parse-tree checks on `parsed` into `linter`.
pub fn check_syntax(parsed: &ParseResult, linter: &mut Linter) {
    for w in &parsed.warnings {
        if w.kind == WarningKind::EmptyContinuationLine {
            linter.report(
                Rule::NoEmptyContinuation,
                "Empty continuation line".into(),
                (w.line, w.line),
                &[],
            );
        }
    }

    for node in &parsed.nodes {
        match node.name.as_str() {
            "maintainer" => linter.report(
                Rule::MaintainerDeprecated,
                "Maintainer instruction is deprecated in favor of using label".into(),
                lines(node),
                &node.comments,
            ),
            "from" => check_from_casing(node, linter),
            _ => {}
        }
    }

    let mut seen = BTreeSet::new();
    for node in parsed.nodes.iter().filter(|n| n.name == "from") {
        let Some((_, name)) = from_as(node) else {
            continue;
        };
        let name = name.to_lowercase();
        if RESERVED_STAGE_NAMES.contains(&name.as_str()) {
            linter.report(
                Rule::ReservedStageName,
                format!("Stage name should not use the same name as reserved stage {name:?}"),
                lines(node),
                &[],
            );
        }
        if !seen.insert(name.clone()) {
            linter.report(
                Rule::DuplicateStageName,
                format!("Duplicate stage name {name:?}, stage names should be unique"),
                lines(node),
                &[],
            );
        }
    }

    check_instruction_casing(parsed, linter);
}

fn check_from_casing(node: &Node, linter: &mut Linter) {
    let Some((kw, name)) = from_as(node) else {
        return;
    };
    if name != name.to_lowercase() {
        linter.report(
            Rule::StageNameCasing,
            format!("Stage name '{name}' should be lowercase"),
            lines(node),
            &node.comments,
        );
    }
    // A FROM keyword of mixed case is ConsistentInstructionCasing's business.
    let from = node.keyword.as_str();
    let mismatch = if from == from.to_lowercase() {
        kw != kw.to_lowercase()
    } else if from == from.to_uppercase() {
        kw != kw.to_uppercase()
    } else {
        false
    };
    if mismatch {
        linter.report(
            Rule::FromAsCasing,
            format!("'{kw}' and '{from}' keywords' casing do not match"),
            lines(node),
            &node.comments,
        );
    }
}

/// Counts the casing of every instruction from the first FROM on (ARGs before it do not
/// count, as in BuildKit), then flags those not in the majority's case.
fn check_instruction_casing(parsed: &ParseResult, linter: &mut Linter) {
    let Some(first) = parsed.nodes.iter().position(|n| n.name == "from") else {
        return;
    };
    let nodes = parsed.nodes.get(first..).unwrap_or_default();
    let (mut lower, mut upper) = (0usize, 0usize);
    for n in nodes {
        if is_self_consistent(&n.keyword) {
            if n.keyword == n.keyword.to_lowercase() {
                lower += 1;
            } else {
                upper += 1;
            }
        }
    }
    let majority_lower = lower > upper;
    for n in nodes {
        let kw = &n.keyword;
        let casing = if majority_lower && *kw != kw.to_lowercase() {
            "lowercase"
        } else if !majority_lower && *kw != kw.to_uppercase() {
            "uppercase"
        } else {
            continue;
        };
        linter.report(
            Rule::ConsistentInstructionCasing,
            format!("Command '{kw}' should match the case of the command majority ({casing})"),
            lines(n),
            &[],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::config::CheckConfig;

    fn run(src: &str) -> Vec<String> {
        let parsed = crate::parser::parse("Dockerfile", src.as_bytes()).unwrap();
        let mut l = Linter::new(CheckConfig::default());
        check_syntax(&parsed, &mut l);
        l.warnings().iter().map(|w| w.short()).collect()
    }

    #[test]
    fn casing_rules() {
        assert_eq!(
            run("FROM alpine as BUILD\nRUN true\n"),
            [
                "StageNameCasing: Stage name 'BUILD' should be lowercase (line 1)",
                "FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 1)",
            ]
        );
        assert!(run("FROM alpine AS build\nfrom build as b2\n").len() == 1);
        assert_eq!(
            run("FROM a\nrun x\nRun y\nRUN z\n"),
            [
                "ConsistentInstructionCasing: Command 'run' should match the case of the command majority (uppercase) (line 2)",
                "ConsistentInstructionCasing: Command 'Run' should match the case of the command majority (uppercase) (line 3)",
            ]
        );
    }

    #[test]
    fn stage_name_rules() {
        assert_eq!(
            run("FROM a AS scratch\nFROM b AS x\nFROM c AS X\n"),
            [
                "StageNameCasing: Stage name 'X' should be lowercase (line 3)",
                "ReservedStageName: Stage name should not use the same name as reserved stage \"scratch\" (line 1)",
                "DuplicateStageName: Duplicate stage name \"x\", stage names should be unique (line 3)",
            ]
        );
    }
}
