//! RUN: an Exec vertex over the stage's root filesystem, with the stage's SHELL for the
//! shell form, heredoc scripts as BuildKit runs them (a `#!` script is written to a file
//! that is mounted and executed; other single heredocs run as the shell command), the
//! variables in scope as its environment, and its mounts; plus BuildKit's history line.
//!
//! API (crate-internal): [`dispatch_run`].

use super::args::is_proxy_arg;
use super::dispatch::with_shell;
use super::mounts::run_mount;
use super::refs::PlanView;
use super::state::{add, StageState};
use super::{CompileError, Ctx};
use crate::graph::{
    Exec, FileAction, FileOp, Mount, MountKind, NetworkMode, Op, SecurityMode, Source,
};
use crate::instructions::{Command, CommandLine, NetworkMode as Net, RunArgs, SecurityMode as Sec};
use crate::parser::{chomp_heredoc_content, parse_heredoc_marker};

/// Where a `#!` heredoc script is mounted.
const PIPES_DIR: &str = "/dev/pipes/";

pub fn dispatch_run(
    cx: &mut Ctx,
    st: &mut StageState,
    cmd: &Command,
    r: &RunArgs,
    view: &PlanView<'_>,
) -> Result<(), CompileError> {
    let mut inputs = vec![st.rootfs.clone()];
    let mut mounts = Vec::new();
    let mut ssh_count = 0;
    for spec in &r.mounts {
        mounts.push(run_mount(
            cx,
            st,
            cmd,
            spec,
            view,
            &mut inputs,
            &mut ssh_count,
        )?);
    }
    let (mut args, shell_form) = match &r.cmd {
        CommandLine::Exec(v) => (v.clone(), false),
        CommandLine::Shell(s) => (vec![s.clone()], true),
    };
    if !r.heredocs.is_empty() {
        if args.len() != 1 || !shell_form {
            return Err(cx.error(
                cmd,
                "<<",
                "parsing produced an invalid run command: heredocs need the shell form".into(),
                "`RUN <<EOF` followed by the script",
            ));
        }
        let single = matches!(parse_heredoc_marker(args[0].trim()), Ok(Some(_)));
        if let (true, Some(doc)) = (single, r.heredocs.first()) {
            let data = if doc.chomp {
                chomp_heredoc_content(&doc.content)
            } else {
                doc.content.clone()
            };
            if data.starts_with("#!") {
                let scratch = add(cx, Op::Source(Source::Scratch), vec![], st.origin(cmd))?;
                let file = Op::File(FileOp {
                    actions: vec![FileAction::Mkfile {
                        path: format!("/{}", doc.name),
                        mode: 0o755,
                        data,
                        owner: None,
                    }],
                });
                let script = add(cx, file, vec![scratch], st.origin(cmd))?;
                inputs.push(script);
                mounts.push(Mount {
                    target: PIPES_DIR.into(),
                    input: Some(inputs.len() - 1),
                    selector: "/".into(),
                    readonly: true,
                    kind: MountKind::Bind,
                });
                args = vec![format!("{PIPES_DIR}{}", doc.name)];
            } else {
                args = vec![data];
            }
        } else {
            // Several heredocs, or one inside a longer command: hand the shell the
            // command and the bodies, as written.
            let mut text = args[0].clone();
            for doc in &r.heredocs {
                text.push('\n');
                text.push_str(&doc.content);
                text.push_str(&doc.name);
            }
            args = vec![text];
        }
    }
    if shell_form {
        args = with_shell(st, &args.join(" "));
    }
    let exec = Exec {
        args: args.clone(),
        env: st.exec_env(),
        cwd: st.workdir.clone(),
        user: (!st.user.is_empty()).then(|| st.user.clone()),
        // The build's --network for steps that do not choose (BuildKit: `default` defers).
        network: match r.network {
            Net::Default => cx.opts.run_network,
            Net::None => NetworkMode::None,
            Net::Host => NetworkMode::Host,
        },
        security: match r.security {
            Sec::Sandbox => SecurityMode::Sandbox,
            Sec::Insecure => SecurityMode::Insecure,
        },
        mounts,
        settings: cx.opts.run_settings.clone(),
    };
    st.rootfs = add(cx, Op::Exec(exec), inputs, st.origin(cmd))?;
    let line = run_command_string(st, &args);
    st.commit(format!("RUN {line}"), true, true);
    Ok(())
}

/// BuildKit's `runCommandString`: `|N K=v … args`, the declared ARGs (value as the
/// RUN sees it) before the command; proxies never appear.
fn run_command_string(st: &StageState, args: &[String]) -> String {
    let mut build_env: Vec<(String, String)> = Vec::new();
    for (key, value) in &st.build_args {
        if is_proxy_arg(key) {
            continue;
        }
        let v = st
            .env
            .get(key)
            .map(str::to_string)
            .or_else(|| value.clone())
            .unwrap_or_default();
        match build_env.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = v,
            None => build_env.push((key.clone(), v)),
        }
    }
    let mut parts = Vec::new();
    if !build_env.is_empty() {
        parts.push(format!("|{}", build_env.len()));
        parts.extend(build_env.iter().map(|(k, v)| format!("{k}={v}")));
    }
    parts.extend(args.iter().cloned());
    parts.join(" ")
}
