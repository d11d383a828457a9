//! Planning the stages: expanding each FROM with the global ARGs (and running the checks
//! BuildKit runs there), resolving stage references of `FROM`, `COPY --from` and
//! `RUN --mount=from=`, rejecting cycles, and finding what the target needs.
//!
//! API (crate-internal): [`StagePlan`], [`BaseRef`], [`Step`], [`plan_stages`],
//! [`check_cycles`], [`reachable`], [`find_target`]; references between stages are in
//! `refs.rs`.

use std::collections::{BTreeMap, BTreeSet};

use super::args::GlobalArgs;
use super::named;
use super::platform::parse_platform;
use super::reference::normalize;
use super::refs::{add_deps, unique_stage};
use super::resolver::ResolvedImage;
use super::{CompileError, Ctx};
use crate::graph::Platform;
use crate::instructions::{Command, Stage};
use crate::lint::{suggest, Rule};

/// What a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseRef {
    Stage(usize),
    Scratch,
    /// A normalised image reference.
    Image(String),
    /// A local named context (`--build-context NAME=DIR`), by name.
    Local(String),
}

/// An instruction to dispatch (its own, or an ONBUILD trigger inherited from the base).
#[derive(Debug, Clone)]
pub struct Step {
    pub cmd: Command,
}

#[derive(Debug, Clone)]
pub struct StagePlan {
    pub index: usize,
    /// Lowercased name.
    pub name: Option<String>,
    pub from: Command,
    pub base: BaseRef,
    /// `FROM --platform=`, expanded and parsed.
    pub platform: Option<Platform>,
    pub steps: Vec<Step>,
    /// ONBUILD triggers of the base, run before `steps`.
    pub triggers: Vec<Step>,
    /// Stages this one reads files from, with the line that does.
    pub deps: BTreeMap<usize, usize>,
    /// The base image's metadata once resolved.
    pub resolved: Option<ResolvedImage>,
    pub prepared: bool,
}

impl StagePlan {
    /// The stage's name, or its index when it has none (for origins and messages).
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.index.to_string())
    }
}

fn lines(cmd: &Command) -> (usize, usize) {
    (cmd.start_line, cmd.end_line)
}

/// Expands every FROM and builds the plans (base references are resolved against the
/// stages before each one, as BuildKit does).
pub fn plan_stages(
    cx: &mut Ctx,
    stages: &[Stage],
    globals: &GlobalArgs,
) -> Result<Vec<StagePlan>, CompileError> {
    let known = globals.known_names();
    let mut plans: Vec<StagePlan> = Vec::new();
    for (index, st) in stages.iter().enumerate() {
        let comments = &st.from.comments;
        let at = lines(&st.from);
        let m = cx
            .lexer
            .process_word_with_matches(&st.base, &globals.values)
            .map_err(|e| {
                cx.error(
                    &st.from,
                    &st.base,
                    format!("{e}"),
                    "a valid base image or stage name",
                )
            });
        for arg in m.as_ref().map(|m| m.unmatched.clone()).unwrap_or_default() {
            if !known.contains(&arg) {
                report_undefined_from_arg(cx, &arg, &known, at, comments);
            }
        }
        let base_name = m?.result;
        if base_name.is_empty() {
            return Err(cx.error(
                &st.from,
                &st.base,
                format!("base name ({}) should not be blank", st.base),
                "the ARG used in FROM to have a value (declare it with a default, or pass --build-arg)",
            ));
        }
        let mut platform = None;
        if let Some(raw) = &st.platform {
            let m = cx
                .lexer
                .process_word_with_matches(raw, &globals.values)
                .map_err(|e| {
                    cx.error(
                        &st.from,
                        raw,
                        format!("failed to process arguments for platform: {e}"),
                        "a valid --platform value",
                    )
                })?;
            for arg in &m.unmatched {
                if !known.contains(arg) {
                    report_undefined_from_arg(cx, arg, &known, at, comments);
                }
            }
            let target_platform = globals.values.get("TARGETPLATFORM").unwrap_or_default();
            if m.matched.len() == 1
                && m.unmatched.is_empty()
                && m.matched.contains("TARGETPLATFORM")
                && m.result == target_platform
            {
                cx.linter.report(
                    Rule::RedundantTargetPlatform,
                    format!("Setting platform to predefined {raw} in FROM is redundant as this is the default behavior"),
                    at,
                    comments,
                );
            }
            if m.matched.is_empty() && m.unmatched.is_empty() {
                if let Ok(p) = parse_platform(&m.result) {
                    let name = st.name.clone().unwrap_or_default();
                    if !name.contains(&p.os) && !name.contains(&p.architecture) {
                        cx.linter.report(
                            Rule::FromPlatformFlagConstDisallowed,
                            format!(
                                "FROM --platform flag should not use constant value {:?}",
                                m.result
                            ),
                            at,
                            comments,
                        );
                    }
                }
            }
            if m.result.is_empty() {
                return Err(cx.error(
                    &st.from,
                    raw,
                    format!("empty platform value from expression {raw}"),
                    "--platform to expand to os/arch[/variant]",
                ));
            }
            let p = parse_platform(&m.result).map_err(|e| {
                cx.error(
                    &st.from,
                    raw,
                    format!("failed to parse platform {raw}: {e}"),
                    "os/arch[/variant], e.g. linux/arm64",
                )
            })?;
            platform = Some(p);
        }
        // A named context replaces the stage of its name (BuildKit: the stage is not
        // built; its instructions are dropped).
        let replaced = st
            .name
            .as_deref()
            .and_then(|n| cx.opts.named_contexts.get_key_value(n));
        let base = if let Some((name, nc)) = replaced {
            named::base_ref(cx, &st.from, name, nc)?
        } else if let Some(i) = unique_stage(cx, &plans, &st.from, &base_name)? {
            BaseRef::Stage(i)
        } else if let Some((name, nc)) = named::lookup(cx, &base_name) {
            named::base_ref(cx, &st.from, name, nc)?
        } else if base_name == "scratch" {
            BaseRef::Scratch
        } else {
            let reference = normalize(&base_name).map_err(|e| {
                cx.error(
                    &st.from,
                    &st.base,
                    format!("failed to parse stage name {base_name:?}: {e}"),
                    "an image reference like alpine:3.20, or the name of an earlier stage",
                )
            })?;
            BaseRef::Image(reference)
        };
        plans.push(StagePlan {
            index,
            name: st.name.clone(),
            from: st.from.clone(),
            base,
            platform,
            steps: if replaced.is_some() {
                Vec::new()
            } else {
                st.commands
                    .iter()
                    .map(|c| Step { cmd: c.clone() })
                    .collect()
            },
            triggers: Vec::new(),
            deps: BTreeMap::new(),
            resolved: None,
            prepared: false,
        });
    }
    for i in 0..plans.len() {
        let steps = plans[i].steps.clone();
        add_deps(cx, &mut plans, i, &steps)?;
    }
    Ok(plans)
}

fn report_undefined_from_arg(
    cx: &mut Ctx,
    arg: &str,
    declared: &BTreeSet<String>,
    at: (usize, usize),
    comments: &[String],
) {
    let hint = suggest(arg, declared.iter().map(String::as_str), true);
    let mut msg = format!("FROM argument '{arg}' is not declared");
    if let Some(s) = hint {
        msg.push_str(&format!(" (did you mean {s}?)"));
    }
    cx.linter
        .report(Rule::UndefinedArgInFrom, msg, at, comments);
}

/// Fails on a dependency cycle among COPY --from / mounts, naming the stage and line.
pub fn check_cycles(cx: &Ctx, plans: &[StagePlan]) -> Result<(), CompileError> {
    fn visit(
        plans: &[StagePlan],
        s: usize,
        state: &mut [u8],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        match state[s] {
            1 => return Some(path.clone()),
            2 => return None,
            _ => {}
        }
        state[s] = 1;
        path.push(s);
        for &dep in plans[s].deps.keys() {
            if let Some(cycle) = visit(plans, dep, state, path) {
                return Some(cycle);
            }
        }
        path.pop();
        state[s] = 2;
        None
    }
    let mut state = vec![0u8; plans.len()];
    for s in 0..plans.len() {
        let mut path = Vec::new();
        if let Some(cycle) = visit(plans, s, &mut state, &mut path) {
            let Some(&first) = cycle.first() else {
                continue;
            };
            let names: Vec<String> = cycle.iter().map(|&i| plans[i].label()).collect();
            let line = plans[first]
                .deps
                .values()
                .next()
                .copied()
                .unwrap_or(plans[first].from.start_line);
            return Err(CompileError::At {
                at: cx.src.at(line, 1),
                message: format!(
                    "circular dependency detected on stage: {} (via {})",
                    plans[first].label(),
                    names.join(" -> ")
                ),
                expected: "stages that copy or mount from each other without a cycle".into(),
            });
        }
    }
    Ok(())
}

/// The stages `target` needs (itself included).
pub fn reachable(plans: &[StagePlan], target: usize) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![target];
    while let Some(s) = stack.pop() {
        if !seen.insert(s) {
            continue;
        }
        if let BaseRef::Stage(b) = plans[s].base {
            stack.push(b);
        }
        stack.extend(plans[s].deps.keys().copied());
    }
    seen
}

/// The stage `--target` names (default: the last one).
pub fn find_target(
    cx: &Ctx,
    plans: &[StagePlan],
    target: Option<&str>,
) -> Result<usize, CompileError> {
    let last = plans.len().saturating_sub(1);
    let Some(t) = target.filter(|t| !t.is_empty()) else {
        return Ok(last);
    };
    let lower = t.to_lowercase();
    let matching: Vec<&StagePlan> = plans
        .iter()
        .filter(|p| p.name.as_deref() == Some(lower.as_str()))
        .collect();
    match matching.as_slice() {
        [one] => return Ok(one.index),
        [first, second, ..] => {
            return Err(cx.error(
                &second.from,
                t,
                format!("target stage {t:?} is ambiguous: stages at lines {} and {} are both called {lower:?}", first.from.start_line, second.from.start_line),
                "unique stage names (rename one of the stages after AS)",
            ))
        }
        [] => {}
    }
    let names: Vec<&str> = plans.iter().filter_map(|p| p.name.as_deref()).collect();
    Err(CompileError::UnknownTarget {
        target: t.to_string(),
        suggestion: suggest(t, names.iter().copied(), true),
        stages: if names.is_empty() {
            "(none named)".to_string()
        } else {
            names.join(", ")
        },
    })
}
