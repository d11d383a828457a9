//! Grouping typed instructions into build stages, as BuildKit's `instructions.Parse`:
//! ARGs before the first FROM are meta args, every FROM starts a stage, and any other
//! instruction before the first FROM is an error.
//!
//! API: [`Dockerfile`], [`Stage`], [`build_dockerfile`] (crate-internal).

use super::convert::parse_instruction;
use super::error::InstructionError;
use super::types::{ArgDef, Command, Instruction};
use crate::parser::source::Source;
use crate::parser::{Directive, ParseResult, Warning};

/// A Dockerfile as stages of typed instructions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// ARG instructions before the first FROM (each an `Instruction::Arg`).
    pub meta_args: Vec<Command>,
    pub stages: Vec<Stage>,
    /// The escape character (`\` or `` ` ``), which the shell lexer needs too.
    pub escape: char,
    pub directives: Vec<Directive>,
    pub warnings: Vec<Warning>,
}

impl Dockerfile {
    /// Every name declared by the meta ARGs, with its raw default, in order.
    pub fn meta_arg_defs(&self) -> impl Iterator<Item = &ArgDef> {
        self.meta_args.iter().flat_map(|c| match &c.instruction {
            Instruction::Arg(defs) => defs.as_slice(),
            _ => &[],
        })
    }

    /// The stage with this name (case-insensitive) or index.
    pub fn stage(&self, name_or_index: &str) -> Option<(usize, &Stage)> {
        let lower = name_or_index.to_lowercase();
        if let Some(found) = self
            .stages
            .iter()
            .enumerate()
            .find(|(_, s)| s.name.as_deref() == Some(lower.as_str()))
        {
            return Some(found);
        }
        let index: usize = name_or_index.parse().ok()?;
        self.stages.get(index).map(|s| (index, s))
    }
}

/// One build stage: a FROM and the instructions up to the next FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The stage name lowercased (`AS Builder` -> `builder`).
    pub name: Option<String>,
    /// The name as written.
    pub name_as_written: Option<String>,
    /// The base image or stage text, raw (`$ARG`s not expanded).
    pub base: String,
    /// `--platform`, raw.
    pub platform: Option<String>,
    /// The FROM instruction itself.
    pub from: Command,
    /// The instructions after FROM.
    pub commands: Vec<Command>,
    /// The line of the FROM.
    pub line: usize,
}

pub fn build_dockerfile(
    result: &ParseResult,
    src: &Source,
) -> Result<Dockerfile, InstructionError> {
    let mut meta_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for node in &result.nodes {
        let command = parse_instruction(node, src)?;
        match (&command.instruction, stages.last_mut()) {
            (Instruction::From(from), _) => stages.push(Stage {
                name: from.name.as_ref().map(|n| n.to_lowercase()),
                name_as_written: from.name.clone(),
                base: from.image.clone(),
                platform: from.platform.clone(),
                line: command.start_line,
                from: command,
                commands: Vec::new(),
            }),
            (Instruction::Arg(_), None) => meta_args.push(command),
            (_, Some(stage)) => stage.commands.push(command),
            (other, None) => {
                return Err(InstructionError::Invalid {
                    at: Box::new(src.at_text(node.start_line, &node.keyword)),
                    message: format!(
                        "no build stage in current context: {} comes before the first FROM",
                        other.name()
                    ),
                    expected: "a FROM instruction first (only ARG may come before it)".into(),
                })
            }
        }
    }
    Ok(Dockerfile {
        meta_args,
        stages,
        escape: result.escape,
        directives: result.directives.clone(),
        warnings: result.warnings.clone(),
    })
}
