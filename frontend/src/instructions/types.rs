//! The typed instructions. Values the compiler expands later (with the shell lexer)
//! are kept as raw strings here; options that BuildKit never expands (HEALTHCHECK
//! durations, RUN --network/--security) are already parsed.
//!
//! API: [`Command`], [`Instruction`] and its payload types.

use super::options::{NetworkMode, SecurityMode};

/// One instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub instruction: Instruction,
    /// The keyword as written (`Run`), for casing lints.
    pub keyword: String,
    /// The logical line.
    pub original: String,
    /// 1-based first and last physical line.
    pub start_line: usize,
    pub end_line: usize,
    /// Comments directly above the instruction.
    pub comments: Vec<String>,
}

/// A command line in shell form (run by the stage's SHELL) or exec (JSON) form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLine {
    Shell(String),
    Exec(Vec<String>),
}

impl CommandLine {
    pub fn is_exec(&self) -> bool {
        matches!(self, CommandLine::Exec(_))
    }
}

/// A heredoc body: a script for RUN, a file for COPY/ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineFile {
    /// The delimiter name (for COPY/ADD: the file name in the destination).
    pub name: String,
    /// The body; leading tabs already stripped for COPY/ADD `<<-` (as BuildKit), kept
    /// for RUN (with `chomp` telling the compiler to strip them).
    pub content: String,
    /// The delimiter was not quoted: expand variables in the body.
    pub expand: bool,
    pub chomp: bool,
    /// File descriptor prefix (`3<<EOF`), 0 when absent.
    pub fd: u32,
}

/// `KEY=value` of ENV and LABEL. `value` is raw (quotes and escapes kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
    /// Written in the legacy `ENV key value` form.
    pub legacy: bool,
}

/// One name of an ARG, with its raw default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDef {
    pub name: String,
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromArgs {
    /// The base image or stage, raw (may contain `$ARG`s).
    pub image: String,
    /// The stage name as written after AS.
    pub name: Option<String>,
    /// The `AS` keyword as written (for the FromAsCasing lint).
    pub as_keyword: Option<String>,
    pub platform: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunArgs {
    pub cmd: CommandLine,
    pub heredocs: Vec<InlineFile>,
    /// Raw `--mount` specs; `mount::parse_mount` after expansion.
    pub mounts: Vec<String>,
    /// Raw `--device` requests (CDI device names).
    pub devices: Vec<String>,
    pub network: NetworkMode,
    pub security: SecurityMode,
    /// Which flags were given (names without `--`).
    pub flags_used: Vec<String>,
}

/// COPY and ADD. Options one of them lacks stay at their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopyArgs {
    /// Source paths or URLs, raw.
    pub sources: Vec<String>,
    pub dest: String,
    /// Heredoc sources (`COPY <<EOF /dest`).
    pub heredocs: Vec<InlineFile>,
    /// COPY `--from` (stage name, index or image), raw.
    pub from: Option<String>,
    pub chown: Option<String>,
    /// Raw; `options::parse_chmod` after expansion.
    pub chmod: Option<String>,
    pub link: bool,
    /// COPY `--parents`.
    pub parents: bool,
    pub exclude: Vec<String>,
    /// ADD `--checksum`.
    pub checksum: Option<String>,
    /// ADD `--keep-git-dir` (`None` when not given).
    pub keep_git_dir: Option<bool>,
    /// ADD `--unpack` (`None` when not given).
    pub unpack: Option<bool>,
}

/// HEALTHCHECK. Durations are nanoseconds (0 = not set, use the default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    None,
    Cmd {
        /// Shell form becomes `CMD-SHELL` in the image config, exec form `CMD`.
        test: CommandLine,
        interval: i64,
        timeout: i64,
        start_period: i64,
        start_interval: i64,
        retries: i32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    From(FromArgs),
    Run(RunArgs),
    Cmd(CommandLine),
    /// `ENTRYPOINT []` is `Exec(vec![])` and clears the entrypoint.
    Entrypoint(CommandLine),
    Shell(Vec<String>),
    Env(Vec<KeyValue>),
    Arg(Vec<ArgDef>),
    Label(Vec<KeyValue>),
    /// Ports as written (raw), sorted as BuildKit sorts them.
    Expose(Vec<String>),
    Volume(Vec<String>),
    Workdir(String),
    User(String),
    Copy(CopyArgs),
    Add(CopyArgs),
    Healthcheck(Healthcheck),
    StopSignal(String),
    /// The trigger expression (the text after ONBUILD, heredoc bodies appended).
    OnBuild(String),
    Maintainer(String),
}

impl Instruction {
    /// The instruction's name in upper case (`RUN`).
    pub fn name(&self) -> &'static str {
        match self {
            Instruction::From(_) => "FROM",
            Instruction::Run(_) => "RUN",
            Instruction::Cmd(_) => "CMD",
            Instruction::Entrypoint(_) => "ENTRYPOINT",
            Instruction::Shell(_) => "SHELL",
            Instruction::Env(_) => "ENV",
            Instruction::Arg(_) => "ARG",
            Instruction::Label(_) => "LABEL",
            Instruction::Expose(_) => "EXPOSE",
            Instruction::Volume(_) => "VOLUME",
            Instruction::Workdir(_) => "WORKDIR",
            Instruction::User(_) => "USER",
            Instruction::Copy(_) => "COPY",
            Instruction::Add(_) => "ADD",
            Instruction::Healthcheck(_) => "HEALTHCHECK",
            Instruction::StopSignal(_) => "STOPSIGNAL",
            Instruction::OnBuild(_) => "ONBUILD",
            Instruction::Maintainer(_) => "MAINTAINER",
        }
    }
}
