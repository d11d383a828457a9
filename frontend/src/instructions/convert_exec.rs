//! RUN and HEALTHCHECK: the instructions that run commands, with their flags
//! (`--mount`, `--network`, `--security`, `--device`; healthcheck durations, retries).
//!
//! API (crate-internal): [`run`], [`healthcheck`].

use super::bflags::{FlagKind, Flags};
use super::convert::{command_line, Ctx};
use super::convert_copy::inline;
use super::duration::parse_go_duration;
use super::error::InstructionError;
use super::mount::precheck_mount;
use super::options::{parse_network, parse_security, NetworkMode, SecurityMode};
use super::types::*;
use crate::parser::goquote::quote;

pub(super) fn run(cx: &Ctx) -> Result<Instruction, InstructionError> {
    let flags = cx.flags(&[
        ("mount", FlagKind::Strings),
        ("network", FlagKind::String),
        ("security", FlagKind::String),
        ("device", FlagKind::Strings),
    ])?;
    let line = cx.node.start_line;
    let mounts = flags.strings("mount");
    for spec in &mounts {
        precheck_mount(spec).map_err(|source| InstructionError::Mount {
            at: Box::new(cx.src.at_text(line, spec)),
            source,
        })?;
    }
    let option_err = |source| InstructionError::Option {
        at: Box::new(cx.src.at_text(line, "--")),
        source,
    };
    let network = match flags.string("network") {
        Some(v) => parse_network(&v).map_err(option_err)?,
        None => NetworkMode::Default,
    };
    let security = match flags.string("security") {
        Some(v) => parse_security(&v).map_err(option_err)?,
        None => SecurityMode::Sandbox,
    };
    Ok(Instruction::Run(RunArgs {
        cmd: command_line(cx.node, &cx.node.args),
        heredocs: cx.node.heredocs.iter().map(|d| inline(d, false)).collect(),
        mounts,
        devices: flags.strings("device"),
        network,
        security,
        flags_used: flags.used().to_vec(),
    }))
}

fn duration_flag(cx: &Ctx, flags: &Flags, name: &str) -> Result<i64, InstructionError> {
    let Some(value) = flags.string(name).filter(|v| !v.is_empty()) else {
        return Ok(0);
    };
    let at = || Box::new(cx.src.at_text(cx.node.start_line, &format!("--{name}")));
    let nanos = parse_go_duration(&value).map_err(|source| InstructionError::Duration {
        at: at(),
        flag: name.to_string(),
        source,
    })?;
    if nanos != 0 && nanos < 1_000_000 {
        return Err(InstructionError::Invalid {
            at: at(),
            message: format!("Interval {} cannot be less than 1ms", quote(name)),
            expected: "0 (the default) or a duration of at least 1ms".into(),
        });
    }
    Ok(nanos)
}

pub(super) fn healthcheck(cx: &Ctx) -> Result<Instruction, InstructionError> {
    let args = &cx.node.args;
    let Some((typ, rest)) = args.split_first() else {
        return Err(cx.invalid(
            "HEALTHCHECK requires at least one argument",
            "`HEALTHCHECK [options] CMD <command>` or `HEALTHCHECK NONE`",
        ));
    };
    let flags = cx.flags(&[
        ("interval", FlagKind::String),
        ("timeout", FlagKind::String),
        ("start-period", FlagKind::String),
        ("start-interval", FlagKind::String),
        ("retries", FlagKind::String),
    ])?;
    let typ = typ.to_uppercase();
    if typ == "NONE" {
        if !rest.is_empty() {
            return Err(cx.invalid("HEALTHCHECK NONE takes no arguments", "`HEALTHCHECK NONE`"));
        }
        return Ok(Instruction::Healthcheck(Healthcheck::None));
    }
    if typ != "CMD" {
        return Err(cx.invalid(
            format!("Unknown type {} in HEALTHCHECK (try CMD)", quote(&typ)),
            "`HEALTHCHECK CMD <command>` or `HEALTHCHECK NONE`",
        ));
    }
    let test = command_line(cx.node, rest);
    if rest.is_empty() || test == CommandLine::Shell(String::new()) {
        return Err(cx.invalid(
            "Missing command after HEALTHCHECK CMD",
            "`HEALTHCHECK CMD <command>`",
        ));
    }
    let retries = match flags.string("retries").filter(|v| !v.is_empty()) {
        None => 0,
        Some(v) => {
            let n: i32 = v.parse().map_err(|_| {
                cx.invalid(
                    format!("invalid --retries value {}", quote(&v)),
                    "a whole number, e.g. --retries=3",
                )
            })?;
            if n < 0 {
                return Err(cx.invalid(
                    format!("--retries cannot be negative ({n})"),
                    "0 or more retries",
                ));
            }
            n
        }
    };
    Ok(Instruction::Healthcheck(Healthcheck::Cmd {
        test,
        interval: duration_flag(cx, &flags, "interval")?,
        timeout: duration_flag(cx, &flags, "timeout")?,
        start_period: duration_flag(cx, &flags, "start-period")?,
        start_interval: duration_flag(cx, &flags, "start-interval")?,
        retries,
    }))
}
