//! Why a Dockerfile could not be compiled. Errors tied to an instruction carry its
//! location (file, line, column and the line with a caret) and say what is expected.
//!
//! API: [`CompileError`].

use crate::instructions::DockerfileError;
use crate::parser::Location;

#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The file did not parse, or an instruction is malformed.
    #[error(transparent)]
    Dockerfile(#[from] DockerfileError),

    /// A problem with one instruction, found while compiling it.
    #[error("{at}: {message}\n{snippet}\nexpected: {expected}", snippet = .at.snippet())]
    At {
        at: Location,
        message: String,
        expected: String,
    },

    #[error("{file}: the Dockerfile contains no stages to build\nexpected: at least one FROM instruction")]
    NoStages { file: String },

    #[error("target stage {target:?} could not be found{hint}; the stages are: {stages}", hint = .suggestion.as_ref().map(|s| format!(" (did you mean {s}?)")).unwrap_or_default())]
    UnknownTarget {
        target: String,
        suggestion: Option<String>,
        /// The stage names (or indexes of unnamed stages), comma separated.
        stages: String,
    },

    #[error("{at}: resolving image {reference:?} failed: {message}\n{snippet}\nexpected: an image the registry or the local store knows", snippet = .at.snippet())]
    Resolve {
        at: Location,
        reference: String,
        message: String,
    },

    /// `# check=error=true` and some checks fired.
    #[error("lint violation found for rules: {rules}\nexpected: a Dockerfile free of these warnings (see `kiln lint`), or drop `error=true` from the check directive")]
    LintViolation { rules: String },
}

impl CompileError {
    /// Where the error is, when it has a position.
    pub fn location(&self) -> Option<&Location> {
        match self {
            CompileError::At { at, .. } | CompileError::Resolve { at, .. } => Some(at),
            CompileError::Dockerfile(DockerfileError::Parse(e)) => e.location(),
            CompileError::Dockerfile(DockerfileError::Instruction(e)) => Some(e.location()),
            _ => None,
        }
    }
}
