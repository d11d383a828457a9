//! Typed Dockerfile instructions from the raw AST, as BuildKit's `instructions`
//! package: argument counts, flags per instruction (BFlags), heredoc files and scripts,
//! HEALTHCHECK options, and grouping into stages. Values that are expanded later stay
//! raw strings; the parsers the compiler calls after expansion live here too.
//!
//! API:
//! - [`parse_dockerfile`]`(file, data) -> Result<Dockerfile, DockerfileError>`
//! - [`from_parse_result`]`(file, data, &ParseResult) -> Result<Dockerfile, DockerfileError>`
//! - [`parse_command`]`(file, data, &Node) -> Result<Command, DockerfileError>`
//! - [`Dockerfile`] (`meta_args`, `stages`, `escape`, `directives`, `warnings`,
//!   `meta_arg_defs()`, `stage()`), [`Stage`], [`Command`], [`Instruction`],
//!   [`CommandLine`], [`InlineFile`], [`KeyValue`], [`ArgDef`], [`FromArgs`],
//!   [`RunArgs`], [`CopyArgs`], [`Healthcheck`].
//! - After expansion: [`parse_mount`] / [`Mount`], [`parse_go_duration`],
//!   [`parse_chmod`], [`parse_network`], [`parse_security`].
//! - Errors: [`InstructionError`], [`DockerfileError`], [`MountError`],
//!   [`DurationError`], [`OptionError`], [`FlagError`].
//! - [`parse_flags`] / [`FlagKind`] (BFlags), [`nearest`] (suggestions), [`KEYWORDS`].

mod bflags;
mod convert;
mod convert_copy;
mod convert_exec;
mod duration;
mod error;
mod mount;
mod options;
mod stages;
mod suggest;
mod types;

pub use bflags::{parse_flags, FlagError, FlagKind, Flags};
pub use convert::KEYWORDS;
pub use duration::{parse_go_duration, DurationError};
pub use error::{DockerfileError, InstructionError};
pub use mount::{
    parse_mount, parse_ram_bytes, precheck_mount, CacheSharing, Mount, MountError, MountType,
};
pub use options::{
    parse_chmod, parse_network, parse_security, NetworkMode, OptionError, SecurityMode,
};
pub use stages::{Dockerfile, Stage};
pub use suggest::nearest;
pub use types::{
    ArgDef, Command, CommandLine, CopyArgs, FromArgs, Healthcheck, InlineFile, Instruction,
    KeyValue, RunArgs,
};

use crate::parser::source::Source;
use crate::parser::{parse, Node, ParseResult};

/// Parses a Dockerfile and groups its typed instructions into stages.
pub fn parse_dockerfile(file: &str, data: &[u8]) -> Result<Dockerfile, DockerfileError> {
    let result = parse(file, data)?;
    from_parse_result(file, data, &result)
}

/// Typed stages from an already parsed file (`data` is the same bytes, for error
/// locations).
pub fn from_parse_result(
    file: &str,
    data: &[u8],
    result: &ParseResult,
) -> Result<Dockerfile, DockerfileError> {
    let src = Source::new(file, data)?;
    Ok(stages::build_dockerfile(result, &src)?)
}

/// One typed instruction (for the linter, which walks nodes itself).
pub fn parse_command(file: &str, data: &[u8], node: &Node) -> Result<Command, DockerfileError> {
    let src = Source::new(file, data)?;
    Ok(convert::parse_instruction(node, &src)?)
}
