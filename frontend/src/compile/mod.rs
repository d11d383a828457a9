//! The Dockerfile compiler: a Dockerfile plus build options becomes a build [`Graph`]
//! (content-addressed vertices), the image config and history it implies, and the
//! build-check warnings found on the way — with BuildKit's semantics for stages, ARG/ENV
//! scoping, expansion, image config and history.
//!
//! API:
//! - [`compile`]`(file, data, &CompileOptions, &dyn ImageResolver) -> Result<Compiled, CompileError>`
//! - [`CompileOptions`] (build args, target, platforms, context excludes, named
//!   contexts ([`NamedContext`], [`local_source_name`]), RUN network and settings),
//!   [`Compiled`] (`graph`, `root`, `config`, `history`, `warnings`, `platform`,
//!   `proxy_env`).
//! - [`ImageResolver`], [`ResolvedImage`], [`ResolveError`], [`NoImages`];
//!   [`CompileError`]; [`reference::normalize`]; [`platform::host_platform`] /
//!   [`platform::parse_platform`].
//!
//! Stages the target does not need are not compiled (their errors do not matter). The
//! proxy build args are returned in `proxy_env` for the executor to add to every RUN,
//! and kept out of the graph so they never change a digest.

mod args;
mod copy;
mod dispatch;
mod env;
mod error;
mod expose;
mod history;
mod meta;
mod mounts;
mod named;
pub mod platform;
pub mod reference;
mod refs;
mod resolver;
mod run;
mod signal;
mod stages;
mod state;
mod vars;

use std::collections::BTreeMap;

/// The path helpers moved to the crate level; this keeps `compile::paths` working.
pub use crate::paths;
pub use error::CompileError;
pub use named::{local_source_name, NamedContext};
pub use resolver::{ImageResolver, NoImages, ResolveError, ResolvedImage};

use crate::graph::{Digest, Graph, HistoryEntry, ImageConfig, NetworkMode, Platform, RunSettings};
use crate::instructions::{from_parse_result, Command};
use crate::lint::{check_syntax, CheckConfig, LintWarning, Linter};
use crate::parser::source::Source;
use crate::parser::{parse, Location};
use crate::shell::Lexer;

/// What to build.
#[derive(Debug, Clone, Default)]
pub struct CompileOptions {
    /// `--build-arg NAME=value`.
    pub build_args: BTreeMap<String, String>,
    /// `--target`: the stage to build (default: the last one).
    pub target: Option<String>,
    /// `--platform`: the platform to build for (default: the build platform).
    pub target_platform: Option<Platform>,
    /// The platform the build runs on (default: the host's).
    pub build_platform: Option<Platform>,
    /// `.dockerignore` patterns, added to every build-context source's excludes.
    pub context_excludes: Vec<String>,
    /// Compile every stage, not only those the target needs (what `kiln lint` does).
    pub all_stages: bool,
    /// `--build-context NAME=VALUE`: what `FROM NAME`, `COPY --from=NAME` and
    /// `RUN --mount=from=NAME` read instead of a stage or image of that name.
    pub named_contexts: BTreeMap<String, NamedContext>,
    /// `kiln build --network`: the network of every RUN without its own `--network`.
    pub run_network: NetworkMode,
    /// `kiln build --add-host/--ulimit/--shm-size`, given to every RUN.
    pub run_settings: RunSettings,
}

/// A compiled Dockerfile.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// Only the vertices the target needs.
    pub graph: Graph,
    /// The target stage's root filesystem.
    pub root: Digest,
    pub config: ImageConfig,
    /// The base image's history followed by one entry per instruction.
    pub history: Vec<HistoryEntry>,
    pub warnings: Vec<LintWarning>,
    /// The platform of the result.
    pub platform: Platform,
    /// `KEY=value` of proxy build args, for the executor to add to every RUN.
    pub proxy_env: Vec<String>,
}

/// Compiles `data` (the Dockerfile named `file` in messages).
pub fn compile(
    file: &str,
    data: &[u8],
    opts: &CompileOptions,
    resolver: &dyn ImageResolver,
) -> Result<Compiled, CompileError> {
    let (result, linter) = compile_collecting(file, data, opts, resolver);
    let compiled = result?;
    if let Some(rules) = linter.violation() {
        return Err(CompileError::LintViolation {
            rules: rules.join(", "),
        });
    }
    Ok(compiled)
}

/// Compiles and returns the linter too, whether or not compiling succeeded: `kiln lint`
/// reports the warnings found before an error.
pub(crate) fn compile_collecting(
    file: &str,
    data: &[u8],
    opts: &CompileOptions,
    resolver: &dyn ImageResolver,
) -> (Result<Compiled, CompileError>, Linter) {
    let mut linter = Linter::new(CheckConfig::default());
    let result = compile_inner(file, data, opts, resolver, &mut linter);
    (result, linter)
}

fn compile_inner(
    file: &str,
    data: &[u8],
    opts: &CompileOptions,
    resolver: &dyn ImageResolver,
    linter: &mut Linter,
) -> Result<Compiled, CompileError> {
    let parsed = parse(file, data).map_err(|e| CompileError::Dockerfile(e.into()))?;
    let check = parsed
        .directive("check")
        .map(|d| CheckConfig::parse(&d.value))
        .transpose()
        .map_err(|e| CompileError::At {
            at: Location {
                file: file.to_string(),
                line: parsed.directive("check").map_or(1, |d| d.line),
                column: 1,
                text: parsed
                    .directive("check")
                    .map(|d| format!("# check={}", d.value))
                    .unwrap_or_default(),
            },
            message: format!("failed to parse check options: {e}"),
            expected: "`# check=skip=<rules>|all;error=true|false`".into(),
        })?
        .unwrap_or_default();
    *linter = Linter::new(check);
    check_syntax(&parsed, linter);
    let dockerfile = from_parse_result(file, data, &parsed)?;
    let src = Source::new(file, data).map_err(|e| CompileError::Dockerfile(e.into()))?;
    let mut cx = Ctx {
        src,
        lexer: Lexer::new(dockerfile.escape),
        linter: std::mem::take(linter),
        graph: Graph::new(),
        opts,
    };
    let out = meta::build(&mut cx, &dockerfile, resolver);
    *linter = std::mem::take(&mut cx.linter);
    out
}

/// What every part of the compiler shares while compiling one Dockerfile.
pub(crate) struct Ctx<'a> {
    pub src: Source<'a>,
    pub lexer: Lexer,
    pub linter: Linter,
    pub graph: Graph,
    pub opts: &'a CompileOptions,
}

impl Ctx<'_> {
    /// An error about `cmd`, with the caret at `needle` on its first line.
    pub fn error(
        &self,
        cmd: &Command,
        needle: &str,
        message: String,
        expected: impl Into<String>,
    ) -> CompileError {
        CompileError::At {
            at: self.src.at_text(cmd.start_line, needle),
            message,
            expected: expected.into(),
        }
    }
}

impl Ctx<'_> {
    /// The Dockerfile's name, for messages without a line.
    pub fn src_file(&self) -> String {
        self.src.at(1, 1).file
    }
}
