//! Compiling one instruction into the stage state: variable expansion (with the
//! UndefinedVar check) and the config-only instructions (ENV, ARG, LABEL, WORKDIR, USER,
//! VOLUME, EXPOSE, CMD, ENTRYPOINT, SHELL, HEALTHCHECK, STOPSIGNAL, ONBUILD, MAINTAINER).
//! RUN lives in `run.rs`, COPY/ADD in `copy.rs`.
//!
//! API (crate-internal): [`dispatch`], [`expand`], [`parse_owner`].

use std::collections::BTreeSet;

use super::args::GlobalArgs;
use super::expose::parse_port;
use super::history::{go_duration, go_list, go_quoted_list};
use super::state::{add, StageState};
use super::{copy, run, signal, vars, CompileError, Ctx};
use crate::graph::{Empty, FileAction, FileOp, Healthcheck, Op, Owner};
use crate::instructions::{Command, CommandLine, Healthcheck as Health, Instruction};
use crate::lint::{suggest, Rule};
use crate::paths::normalize_workdir;
use crate::shell::Lexer;

/// Build args BuildKit never puts in the environment.
pub(super) const NON_ENV_ARGS: [&str; 2] =
    ["BUILDKIT_SBOM_SCAN_CONTEXT", "BUILDKIT_SBOM_SCAN_STAGE"];

/// Expands `word` against the stage's variables, reporting unset ones (UndefinedVar).
pub fn expand(
    cx: &mut Ctx,
    st: &StageState,
    cmd: &Command,
    word: &str,
) -> Result<String, CompileError> {
    expand_with(cx, st, cmd, word, &cx.lexer.clone())
}

/// As [`expand`] with another lexer (heredoc bodies keep their quotes).
pub fn expand_with(
    cx: &mut Ctx,
    st: &StageState,
    cmd: &Command,
    word: &str,
    lexer: &Lexer,
) -> Result<String, CompileError> {
    let m = lexer
        .process_word_with_matches(word, &st.env)
        .map_err(|e| {
            cx.error(
                cmd,
                word,
                format!("{e}"),
                "a valid variable reference like $NAME or ${NAME:-default}",
            )
        })?;
    report_unmatched(cx, st, cmd, &m.unmatched);
    Ok(m.result)
}

fn report_unmatched(cx: &mut Ctx, st: &StageState, cmd: &Command, unmatched: &BTreeSet<String>) {
    for name in unmatched {
        if st.build_args.iter().any(|(k, _)| k == name) || NON_ENV_ARGS.contains(&name.as_str()) {
            continue;
        }
        let mut msg = format!("Usage of undefined variable '${name}'");
        if let Some(s) = suggest(name, st.env.keys(), true) {
            msg.push_str(&format!(" (did you mean ${s}?)"));
        }
        cx.linter.report(
            Rule::UndefinedVar,
            msg,
            (cmd.start_line, cmd.end_line),
            &cmd.comments,
        );
    }
}

/// `user[:group]` as written.
pub fn parse_owner(s: &str) -> Owner {
    match s.split_once(':') {
        Some((u, g)) => Owner {
            user: u.to_string(),
            group: Some(g.to_string()),
        },
        None => Owner {
            user: s.to_string(),
            group: None,
        },
    }
}

/// Records CMD/ENTRYPOINT/HEALTHCHECK use; a second one in the stage flags the first.
fn used_once(cx: &mut Ctx, slot: &mut Option<(usize, usize)>, cmd: &Command) {
    if let Some(prev) = *slot {
        cx.linter.report(
            Rule::MultipleInstructionsDisallowed,
            format!("Multiple {} instructions should not be used in the same stage because only the last one will be used", cmd.keyword),
            prev,
            &cmd.comments,
        );
    }
    *slot = Some((cmd.start_line, cmd.end_line));
}

/// A shell-form command line prefixed with the stage's SHELL (default `/bin/sh -c`).
pub fn with_shell(st: &StageState, line: &str) -> Vec<String> {
    let mut args = match &st.config.shell {
        Some(s) if !s.is_empty() => s.clone(),
        _ => vec!["/bin/sh".to_string(), "-c".to_string()],
    };
    args.push(line.to_string());
    args
}

fn command_args(cx: &mut Ctx, st: &StageState, line: &CommandLine, cmd: &Command) -> Vec<String> {
    match line {
        CommandLine::Exec(v) => v.clone(),
        CommandLine::Shell(s) => {
            if st.config.shell.as_ref().is_none_or(Vec::is_empty) {
                cx.linter.report(
                    Rule::JSONArgsRecommended,
                    format!("JSON arguments recommended for {} to prevent unintended behavior related to OS signals", cmd.keyword),
                    (cmd.start_line, cmd.end_line),
                    &cmd.comments,
                );
            }
            with_shell(st, s)
        }
    }
}

/// Compiles one instruction into `st`.
pub fn dispatch(
    cx: &mut Ctx,
    st: &mut StageState,
    cmd: &Command,
    globals: &GlobalArgs,
    plans: &super::refs::PlanView<'_>,
) -> Result<(), CompileError> {
    let lines = (cmd.start_line, cmd.end_line);
    match &cmd.instruction {
        Instruction::Env(kvs) => vars::dispatch_env(cx, st, cmd, kvs)?,
        Instruction::Label(kvs) => vars::dispatch_label(cx, st, cmd, kvs)?,
        Instruction::Arg(defs) => vars::dispatch_arg(cx, st, cmd, defs, globals)?,
        Instruction::Maintainer(m) => st.commit(format!("MAINTAINER {m}"), false, false),
        Instruction::Workdir(raw) => {
            let path = expand(cx, st, cmd, raw)?;
            if !st.workdir_set && !path.starts_with('/') {
                cx.linter.report(
                    Rule::WorkdirRelativePath,
                    format!("Relative workdir {path:?} can have unexpected results if the base image changes"),
                    lines,
                    &cmd.comments,
                );
            }
            st.workdir_set = true;
            let wd = normalize_workdir(&st.config.working_dir, &path);
            st.config.working_dir = wd.clone();
            st.workdir = wd.clone();
            let layer = wd != "/";
            if layer {
                let owner = (!st.config.user.is_empty()).then(|| parse_owner(&st.config.user));
                let op = Op::File(FileOp {
                    actions: vec![FileAction::Mkdir {
                        path: wd.clone(),
                        mode: 0o755,
                        make_parents: true,
                        owner,
                    }],
                });
                st.rootfs = add(cx, op, vec![st.rootfs.clone()], st.origin(cmd))?;
            }
            st.commit(format!("WORKDIR {wd}"), layer, false);
        }
        Instruction::User(raw) => {
            let user = expand(cx, st, cmd, raw)?;
            st.user = user.clone();
            st.config.user = user.clone();
            st.commit(format!("USER {user}"), false, false);
        }
        Instruction::Volume(raw) => {
            let mut vols = Vec::new();
            for v in raw {
                let v = expand(cx, st, cmd, v)?;
                if v.is_empty() {
                    return Err(cx.error(
                        cmd,
                        "",
                        "VOLUME specified can not be an empty string".into(),
                        "`VOLUME /path`",
                    ));
                }
                st.config.volumes.insert(v.clone(), Empty {});
                vols.push(v);
            }
            st.commit(format!("VOLUME {}", go_list(&vols)), false, false);
        }
        Instruction::StopSignal(raw) => {
            let sig = expand(cx, st, cmd, raw)?;
            if !signal::valid_signal(&sig) {
                return Err(cx.error(
                    cmd,
                    raw,
                    format!("invalid signal: {sig}"),
                    "a signal name like SIGTERM (or TERM) or a number like 15",
                ));
            }
            st.config.stop_signal = sig.clone();
            st.commit(format!("STOPSIGNAL {sig}"), false, false);
        }
        Instruction::Shell(shell) => {
            st.config.shell = Some(shell.clone());
            st.commit(format!("SHELL {}", go_list(shell)), false, false);
        }
        Instruction::Cmd(line) => {
            let mut slot = st.cmd_at;
            used_once(cx, &mut slot, cmd);
            st.cmd_at = slot;
            let args = command_args(cx, st, line, cmd);
            st.commit(format!("CMD {}", go_quoted_list(&args)), false, false);
            st.config.cmd = Some(args);
        }
        Instruction::Entrypoint(line) => {
            let mut slot = st.entrypoint_at;
            used_once(cx, &mut slot, cmd);
            st.entrypoint_at = slot;
            let args = command_args(cx, st, line, cmd);
            st.commit(
                format!("ENTRYPOINT {}", go_quoted_list(&args)),
                false,
                false,
            );
            st.config.entrypoint = (!args.is_empty()).then_some(args);
            if st.cmd_at.is_none() {
                st.config.cmd = None;
            }
        }
        Instruction::Healthcheck(h) => {
            let mut slot = st.healthcheck_at;
            used_once(cx, &mut slot, cmd);
            st.healthcheck_at = slot;
            let hc = match h {
                Health::None => Healthcheck {
                    test: vec!["NONE".into()],
                    ..Healthcheck::default()
                },
                Health::Cmd {
                    test,
                    interval,
                    timeout,
                    start_period,
                    start_interval,
                    retries,
                } => Healthcheck {
                    test: match test {
                        CommandLine::Exec(v) => std::iter::once("CMD".to_string())
                            .chain(v.iter().cloned())
                            .collect(),
                        CommandLine::Shell(s) => vec!["CMD-SHELL".into(), s.clone()],
                    },
                    interval: (*interval).max(0) as u64,
                    timeout: (*timeout).max(0) as u64,
                    start_period: (*start_period).max(0) as u64,
                    start_interval: (*start_interval).max(0) as u64,
                    retries: (*retries).max(0) as u32,
                },
            };
            st.commit(
                format!(
                    "HEALTHCHECK {{Test:{} Interval:{} Timeout:{} StartPeriod:{} StartInterval:{} Retries:{}}}",
                    go_list(&hc.test),
                    go_duration(hc.interval as i64),
                    go_duration(hc.timeout as i64),
                    go_duration(hc.start_period as i64),
                    go_duration(hc.start_interval as i64),
                    hc.retries
                ),
                false,
                false,
            );
            st.config.healthcheck = Some(hc);
        }
        Instruction::Expose(raw) => {
            let mut ports = Vec::new();
            for p in raw {
                let words = cx
                    .lexer
                    .process_words(p, &st.env)
                    .map_err(|e| cx.error(cmd, p, format!("{e}"), "a valid variable reference"))?;
                for w in words {
                    let spec = parse_port(&w).map_err(|e| {
                        cx.error(cmd, p, e.to_string(), "EXPOSE <port>[/<proto>] ...")
                    })?;
                    if spec.proto_not_lowercase {
                        cx.linter.report(
                            Rule::ExposeProtoCasing,
                            format!(
                                "Defined protocol '{w}' in EXPOSE instruction should be lowercase"
                            ),
                            lines,
                            &cmd.comments,
                        );
                    }
                    if spec.has_host_part {
                        cx.linter.report(Rule::ExposeInvalidFormat, format!("EXPOSE instruction should not define an IP address or host-port mapping, found '{w}'"), lines, &cmd.comments);
                    }
                    ports.extend(spec.ports);
                }
            }
            for p in &ports {
                st.config.exposed_ports.insert(p.clone(), Empty {});
            }
            st.commit(format!("EXPOSE {}", go_list(&ports)), false, false);
        }
        Instruction::OnBuild(expr) => st.config.on_build.push(expr.clone()),
        Instruction::Run(r) => run::dispatch_run(cx, st, cmd, r, plans)?,
        Instruction::Copy(c) => copy::dispatch_copy(cx, st, cmd, c, false, plans)?,
        Instruction::Add(c) => copy::dispatch_copy(cx, st, cmd, c, true, plans)?,
        Instruction::From(_) => {
            return Err(cx.error(
                cmd,
                "",
                "FROM cannot be used here".into(),
                "FROM only at the start of a stage",
            ));
        }
    }
    Ok(())
}
