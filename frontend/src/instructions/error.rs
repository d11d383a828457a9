//! Errors of the instructions layer; each names file, line and column, shows the line
//! with a caret, and says what is expected.
//!
//! API: [`InstructionError`], [`DockerfileError`] (parse or instruction error).

use super::duration::DurationError;
use super::mount::MountError;
use super::options::OptionError;
use crate::parser::{Location, ParseError};

fn did_you_mean(s: &Option<String>) -> String {
    s.as_ref()
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstructionError {
    #[error("{at}: unknown instruction: {instruction}{dym}\n{snippet}\nexpected: a Dockerfile instruction (FROM, RUN, COPY, ADD, ENV, ARG, CMD, ENTRYPOINT, ...)", dym = did_you_mean(.suggestion), snippet = .at.snippet())]
    UnknownInstruction {
        at: Box<Location>,
        instruction: String,
        suggestion: Option<String>,
    },

    #[error("{at}: unknown flag: --{flag}{dym}\n{snippet}\nexpected: one of {instruction}'s flags: {known}", dym = did_you_mean(.suggestion), snippet = .at.snippet())]
    UnknownFlag {
        at: Box<Location>,
        instruction: String,
        flag: String,
        suggestion: Option<String>,
        /// The flags the instruction accepts, comma separated.
        known: String,
    },

    #[error("{at}: {message}\n{snippet}\nexpected: {expected}", snippet = .at.snippet())]
    Invalid {
        at: Box<Location>,
        message: String,
        expected: String,
    },

    #[error("{at}: invalid --mount: {source}\n{snippet}\nexpected: --mount=type=bind|cache|tmpfs|secret|ssh,key=value,...", snippet = .at.snippet())]
    Mount {
        at: Box<Location>,
        source: MountError,
    },

    #[error("{at}: invalid --{flag}: {source}\n{snippet}", snippet = .at.snippet())]
    Duration {
        at: Box<Location>,
        flag: String,
        source: DurationError,
    },

    #[error("{at}: {source}\n{snippet}", snippet = .at.snippet())]
    Option {
        at: Box<Location>,
        source: OptionError,
    },
}

impl InstructionError {
    pub fn location(&self) -> &Location {
        // Locations are boxed to keep the error small on the happy path.
        match self {
            InstructionError::UnknownInstruction { at, .. }
            | InstructionError::UnknownFlag { at, .. }
            | InstructionError::Invalid { at, .. }
            | InstructionError::Mount { at, .. }
            | InstructionError::Duration { at, .. }
            | InstructionError::Option { at, .. } => at,
        }
    }
}

/// Either stage of reading a Dockerfile failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DockerfileError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Instruction(#[from] InstructionError),
}
