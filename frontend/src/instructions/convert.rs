//! Raw AST node to typed instruction, as BuildKit's `instructions.ParseInstruction`:
//! argument counts, flags per instruction, heredocs, healthcheck options.
//!
//! API: [`parse_instruction`]`(&Node, &Source) -> Result<Command, InstructionError>`
//! (crate-internal; the public entry points are in `instructions`).

use super::bflags::{parse_flags, FlagError, FlagKind, Flags};
use super::error::InstructionError;
use super::suggest::nearest;
use super::types::*;
use crate::parser::source::Source;
use crate::parser::{goquote::quote, Node};

/// All instruction keywords, for suggestions.
pub const KEYWORDS: [&str; 18] = [
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

pub(super) struct Ctx<'a> {
    pub(super) node: &'a Node,
    pub(super) src: &'a Source<'a>,
    pub(super) upper: String,
}

impl Ctx<'_> {
    pub(super) fn invalid(
        &self,
        message: impl Into<String>,
        expected: impl Into<String>,
    ) -> InstructionError {
        InstructionError::Invalid {
            at: Box::new(self.src.at_text(self.node.start_line, &self.node.keyword)),
            message: message.into(),
            expected: expected.into(),
        }
    }

    pub(super) fn flags(
        &self,
        spec: &[(&'static str, FlagKind)],
    ) -> Result<Flags, InstructionError> {
        parse_flags(&self.node.flags, spec).map_err(|e| self.flag_error(e, spec))
    }

    fn flag_error(&self, e: FlagError, spec: &[(&'static str, FlagKind)]) -> InstructionError {
        let line = self.node.start_line;
        let known = if spec.is_empty() {
            "(none)".to_string()
        } else {
            spec.iter()
                .map(|(n, _)| format!("--{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match e {
            FlagError::Unknown { name, suggestion } => InstructionError::UnknownFlag {
                at: Box::new(self.src.at_text(line, &format!("--{name}"))),
                instruction: self.upper.clone(),
                flag: name,
                suggestion,
                known,
            },
            other => {
                let needle = match &other {
                    FlagError::NotAFlag(a) => a.clone(),
                    FlagError::Duplicate(n) | FlagError::MissingValue(n) => format!("--{n}"),
                    FlagError::NotBool { name, .. } => format!("--{name}"),
                    FlagError::Unknown { name, .. } => format!("--{name}"),
                };
                InstructionError::Invalid {
                    at: Box::new(self.src.at_text(line, &needle)),
                    message: other.to_string(),
                    expected: format!("{}'s flags: {known}", self.upper),
                }
            }
        }
    }

    fn exactly_one(&self) -> Result<String, InstructionError> {
        match self.node.args.as_slice() {
            [one] => Ok(one.clone()),
            _ => Err(self.invalid(
                format!("{} requires exactly one argument", self.upper),
                format!("`{} <value>`", self.upper),
            )),
        }
    }

    fn at_least_one(&self) -> Result<(), InstructionError> {
        if self.node.args.is_empty() {
            return Err(self.invalid(
                format!("{} requires at least one argument", self.upper),
                format!("`{} <value> ...`", self.upper),
            ));
        }
        Ok(())
    }
}

/// Converts one node. Unknown keywords are rejected here with a suggestion.
pub fn parse_instruction(node: &Node, src: &Source) -> Result<Command, InstructionError> {
    let cx = Ctx {
        node,
        src,
        upper: node.name.to_uppercase(),
    };
    let instruction = match node.name.as_str() {
        "env" => {
            cx.flags(&[])?;
            Instruction::Env(key_values(&cx)?)
        }
        "label" => {
            cx.flags(&[])?;
            Instruction::Label(key_values(&cx)?)
        }
        "maintainer" => {
            let v = cx.exactly_one()?;
            cx.flags(&[])?;
            Instruction::Maintainer(v)
        }
        "from" => from(&cx)?,
        "onbuild" => onbuild(&cx)?,
        "workdir" => {
            let v = cx.exactly_one()?;
            cx.flags(&[])?;
            Instruction::Workdir(v)
        }
        "user" => {
            let v = cx.exactly_one()?;
            cx.flags(&[])?;
            Instruction::User(v)
        }
        "stopsignal" => {
            let v = cx.exactly_one()?;
            cx.flags(&[])?;
            Instruction::StopSignal(v)
        }
        "run" => super::convert_exec::run(&cx)?,
        "cmd" => {
            cx.flags(&[])?;
            Instruction::Cmd(command_line(node, &node.args))
        }
        "entrypoint" => {
            cx.flags(&[])?;
            Instruction::Entrypoint(command_line(node, &node.args))
        }
        "shell" => {
            cx.flags(&[])?;
            if node.args.is_empty() {
                return Err(cx.invalid(
                    "SHELL requires at least one argument",
                    "`SHELL [\"executable\", \"parameters\"]`",
                ));
            }
            if !node.json {
                return Err(cx.invalid(
                    "SHELL requires the arguments to be in JSON form",
                    "`SHELL [\"executable\", \"parameters\"]`",
                ));
            }
            Instruction::Shell(node.args.clone())
        }
        "expose" => {
            cx.at_least_one()?;
            cx.flags(&[])?;
            let mut ports = node.args.clone();
            ports.sort();
            Instruction::Expose(ports)
        }
        "volume" => {
            cx.at_least_one()?;
            cx.flags(&[])?;
            let mut volumes = Vec::new();
            for v in &node.args {
                let v = v.trim();
                if v.is_empty() {
                    return Err(cx.invalid(
                        "VOLUME specified can not be an empty string",
                        "`VOLUME /path ...`",
                    ));
                }
                volumes.push(v.to_string());
            }
            Instruction::Volume(volumes)
        }
        "arg" => arg(&cx)?,
        "copy" | "add" => super::convert_copy::copy_or_add(&cx)?,
        "healthcheck" => super::convert_exec::healthcheck(&cx)?,
        _ => {
            return Err(InstructionError::UnknownInstruction {
                at: Box::new(src.at_text(node.start_line, &node.keyword)),
                instruction: node.keyword.clone(),
                suggestion: nearest(&node.keyword, &KEYWORDS),
            })
        }
    };
    Ok(Command {
        instruction,
        keyword: node.keyword.clone(),
        original: node.original.clone(),
        start_line: node.start_line,
        end_line: node.end_line,
        comments: node.comments.clone(),
    })
}

pub(super) fn command_line(node: &Node, args: &[String]) -> CommandLine {
    if node.json {
        CommandLine::Exec(args.to_vec())
    } else {
        CommandLine::Shell(args.join(" "))
    }
}

fn key_values(cx: &Ctx) -> Result<Vec<KeyValue>, InstructionError> {
    let args = &cx.node.args;
    if args.is_empty() {
        return Err(cx.invalid(
            format!("{} requires at least one argument", cx.upper),
            format!("`{} key=value ...`", cx.upper),
        ));
    }
    let mut out = Vec::new();
    for triple in args.chunks(3) {
        let [key, value, sep] = triple else {
            return Err(cx.invalid(
                format!("Bad input to {}, too many arguments", cx.upper),
                "key=value pairs",
            ));
        };
        if key.is_empty() {
            return Err(cx.invalid(
                format!("{} names can not be blank", cx.upper),
                "`name=value`",
            ));
        }
        out.push(KeyValue {
            key: key.clone(),
            value: value.clone(),
            legacy: sep.is_empty(),
        });
    }
    Ok(out)
}

fn is_valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

fn from(cx: &Ctx) -> Result<Instruction, InstructionError> {
    let args = &cx.node.args;
    let (name, as_keyword) = match args.as_slice() {
        [_, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => {
            if !is_valid_stage_name(&name.to_lowercase()) {
                return Err(InstructionError::Invalid {
                    at: Box::new(cx.src.at_text(cx.node.start_line, name)),
                    message: format!(
                        "invalid name for build stage: {}, name can't start with a number or contain symbols",
                        quote(name)
                    ),
                    expected: "a stage name matching [a-z][a-z0-9-_.]*".into(),
                });
            }
            (Some(name.clone()), Some(as_kw.clone()))
        }
        [_] => (None, None),
        _ => {
            return Err(cx.invalid(
                "FROM requires either one or three arguments",
                "`FROM [--platform=<platform>] <image> [AS <name>]`",
            ))
        }
    };
    let flags = cx.flags(&[("platform", FlagKind::String)])?;
    Ok(Instruction::From(FromArgs {
        image: args[0].clone(),
        name,
        as_keyword,
        platform: flags.string("platform"),
    }))
}

fn onbuild(cx: &Ctx) -> Result<Instruction, InstructionError> {
    let Some(child) = cx.node.child.as_deref() else {
        return Err(cx.invalid(
            "ONBUILD requires at least one argument",
            "`ONBUILD <INSTRUCTION> ...`",
        ));
    };
    cx.flags(&[])?;
    let trigger = child.keyword.trim().to_uppercase();
    match trigger.as_str() {
        "ONBUILD" => {
            return Err(cx.invalid(
                "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
                "one ONBUILD per trigger",
            ))
        }
        "MAINTAINER" | "FROM" => {
            return Err(cx.invalid(
                format!("{trigger} isn't allowed as an ONBUILD trigger"),
                "a trigger other than FROM, MAINTAINER or ONBUILD",
            ))
        }
        _ => {}
    }
    // Check the trigger now rather than in the build that uses this image.
    parse_instruction(child, cx.src)?;
    let original = cx.node.original.trim_start();
    let mut expression = match original.get(..7) {
        Some(kw) if kw.eq_ignore_ascii_case("onbuild") => {
            original[7..].trim_start_matches(is_go_space)
        }
        _ => original,
    }
    .to_string();
    for doc in &cx.node.heredocs {
        expression.push('\n');
        expression.push_str(&doc.content);
        expression.push_str(&doc.name);
    }
    Ok(Instruction::OnBuild(expression))
}

fn is_go_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\u{c}' | '\r' | ' ')
}

fn arg(cx: &Ctx) -> Result<Instruction, InstructionError> {
    cx.at_least_one()?;
    cx.flags(&[])?;
    let mut defs = Vec::new();
    for word in &cx.node.args {
        let def = match word.split_once('=') {
            Some(("", _)) => {
                return Err(cx.invalid("ARG names can not be blank", "`ARG name[=default]`"))
            }
            Some((name, value)) => ArgDef {
                name: name.to_string(),
                default: Some(value.to_string()),
            },
            None => ArgDef {
                name: word.clone(),
                default: None,
            },
        };
        defs.push(def);
    }
    Ok(Instruction::Arg(defs))
}
