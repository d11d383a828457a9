//! The whole compilation, in BuildKit's order: global ARGs and the FROM checks, stage
//! planning, target, cycles, base image resolution and ONBUILD triggers (which may add
//! dependencies, so this repeats until nothing new is needed), then each needed stage
//! in Dockerfile order, and finally the target's result.
//!
//! API (crate-internal): [`build`].

use std::collections::BTreeSet;

use super::args::{proxy_env, GlobalArgs};
use super::dispatch::dispatch;
use super::platform::{host_platform, predefined_args};
use super::reference::normalize;
use super::refs::{add_deps, PlanView};
use super::resolver::ImageResolver;
use super::stages::{check_cycles, find_target, plan_stages, reachable, BaseRef, StagePlan, Step};
use super::state::{StageState, StepNumbers};
use super::{CompileError, Compiled, Ctx};
use crate::graph::Platform;
use crate::instructions::{parse_command, Command, Dockerfile, Instruction};
use crate::lint::Rule;

pub fn build(
    cx: &mut Ctx,
    df: &Dockerfile,
    resolver: &dyn ImageResolver,
) -> Result<Compiled, CompileError> {
    let Some(last) = df.stages.last() else {
        return Err(CompileError::NoStages {
            file: cx.src_file(),
        });
    };
    let opts = cx.opts;
    let build_platform = opts.build_platform.clone().unwrap_or_else(host_platform);
    let target_platform = opts
        .target_platform
        .clone()
        .unwrap_or_else(|| build_platform.clone());
    let target_name = opts
        .target
        .clone()
        .filter(|t| !t.is_empty())
        .or_else(|| last.name.clone())
        .unwrap_or_default();
    let predefined = predefined_args(&build_platform, &target_platform, &target_name);

    // InvalidDefaultArgInFrom: with defaults only, every FROM must name a valid image.
    if let Ok(defaults) = GlobalArgs::build(&predefined, &df.meta_args, None, &cx.lexer) {
        for st in &df.stages {
            let Ok(name) = cx.lexer.process_word(&st.base, &defaults.values) else {
                break;
            };
            if normalize(&name).is_err() {
                cx.linter.report(
                    Rule::InvalidDefaultArgInFrom,
                    format!(
                        "Default value for ARG {} results in empty or invalid base image name",
                        st.base
                    ),
                    (st.from.start_line, st.from.end_line),
                    &[],
                );
            }
        }
    }
    let globals = GlobalArgs::build(
        &predefined,
        &df.meta_args,
        Some(&opts.build_args),
        &cx.lexer,
    )
    .map_err(|(cmd, e)| cx.error(cmd, "", e.to_string(), "a valid ARG default"))?;

    let mut plans = plan_stages(cx, &df.stages, &globals)?;
    let target = find_target(cx, &plans, opts.target.as_deref())?;
    check_cycles(cx, &plans)?;
    loop {
        let wanted: BTreeSet<usize> = if opts.all_stages {
            (0..plans.len()).collect()
        } else {
            reachable(&plans, target)
        };
        let todo: Vec<usize> = wanted.into_iter().filter(|&i| !plans[i].prepared).collect();
        if todo.is_empty() {
            break;
        }
        for i in todo {
            prepare(cx, &mut plans, i, resolver, &target_platform)?;
        }
        check_cycles(cx, &plans)?;
    }

    let needed: BTreeSet<usize> = if opts.all_stages {
        (0..plans.len()).collect()
    } else {
        reachable(&plans, target)
    };
    let mut states: Vec<Option<StageState>> = vec![None; plans.len()];
    for &i in &needed {
        let steps: Vec<Step> = plans[i]
            .triggers
            .iter()
            .chain(plans[i].steps.iter())
            .cloned()
            .collect();
        let commands: Vec<&Command> = steps.iter().map(|s| &s.cmd).collect();
        let stage_name = plans[i]
            .name
            .clone()
            .unwrap_or_else(|| format!("stage-{i}"));
        let numbers = StepNumbers::new(&stage_name, plans.len() == 1, &commands);
        let mut st = StageState::init(cx, &plans, &states, i, &target_platform, numbers)?;
        let view = PlanView {
            plans: &plans,
            states: &states,
            target_platform: &target_platform,
        };
        for step in &steps {
            dispatch(cx, &mut st, &step.cmd, &globals, &view)?;
        }
        tracing::debug!(stage = %st.label, rootfs = %st.rootfs, "stage compiled");
        states[i] = Some(st);
    }
    let Some(result) = states.get_mut(target).and_then(Option::take) else {
        return Err(CompileError::NoStages {
            file: cx.src_file(),
        });
    };
    let graph = cx.graph.pruned(&result.rootfs);
    Ok(Compiled {
        graph,
        root: result.rootfs,
        config: result.config,
        history: result.history,
        warnings: cx.linter.warnings().to_vec(),
        platform: result.platform,
        proxy_env: proxy_env(&opts.build_args),
    })
}

/// Resolves stage `i`'s base image and parses the ONBUILD triggers it inherits.
fn prepare(
    cx: &mut Ctx,
    plans: &mut [StagePlan],
    i: usize,
    resolver: &dyn ImageResolver,
    target_platform: &Platform,
) -> Result<(), CompileError> {
    plans[i].prepared = true;
    let from = plans[i].from.clone();
    let triggers: Vec<String> = match plans[i].base.clone() {
        BaseRef::Stage(b) => plans[b]
            .steps
            .iter()
            .filter_map(|s| match &s.cmd.instruction {
                Instruction::OnBuild(expr) => Some(expr.clone()),
                _ => None,
            })
            .collect(),
        BaseRef::Scratch | BaseRef::Local(_) => Vec::new(),
        BaseRef::Image(reference) => {
            let platform = plans[i]
                .platform
                .clone()
                .unwrap_or_else(|| target_platform.clone());
            let resolved =
                resolver
                    .resolve(&reference, &platform)
                    .map_err(|e| CompileError::Resolve {
                        at: cx.src.at_text(from.start_line, ""),
                        reference: reference.clone(),
                        message: e.message,
                    })?;
            let triggers = resolved
                .as_ref()
                .map(|r| r.config.on_build.clone())
                .unwrap_or_default();
            plans[i].resolved = resolved;
            triggers
        }
    };
    let mut steps = Vec::new();
    for expr in triggers {
        steps.push(Step {
            cmd: parse_trigger(cx, &expr, &from)?,
        });
    }
    add_deps(cx, plans, i, &steps)?;
    plans[i].triggers = steps;
    Ok(())
}

/// One ONBUILD trigger as a command placed on the FROM line that inherited it.
fn parse_trigger(cx: &Ctx, expr: &str, from: &Command) -> Result<Command, CompileError> {
    let wrap = |message: String| {
        cx.error(
            from,
            "",
            message,
            "ONBUILD triggers that are single valid instructions",
        )
    };
    let parsed = crate::parser::parse("ONBUILD trigger", expr.as_bytes())
        .map_err(|e| wrap(format!("invalid ONBUILD trigger {expr:?}: {e}")))?;
    let [node] = parsed.nodes.as_slice() else {
        return Err(wrap(format!(
            "onbuild trigger should be a single expression: {expr:?}"
        )));
    };
    let mut cmd = parse_command("ONBUILD trigger", expr.as_bytes(), node)
        .map_err(|e| wrap(format!("invalid ONBUILD trigger {expr:?}: {e}")))?;
    cmd.start_line = from.start_line;
    cmd.end_line = from.end_line;
    cmd.comments = Vec::new();
    // Progress and graph origins show where the step came from.
    cmd.original = format!("ONBUILD {}", cmd.original.trim());
    Ok(cmd)
}
