//! `kiln debug parse` (the parse tree in BuildKit's dump format) and `kiln debug graph`
//! (the build graph a Dockerfile compiles to, as JSON or Graphviz DOT). Both read the
//! Dockerfile given with `-f` (`-` for stdin) and do not touch the store.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use kiln_frontend::compile::{compile, platform::parse_platform, CompileOptions, NoImages};
use kiln_frontend::graph::render;

use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct DebugArgs {
    #[command(subcommand)]
    pub command: DebugCommand,
}

#[derive(Debug, Subcommand)]
pub enum DebugCommand {
    /// Print a Dockerfile's parse tree exactly as BuildKit's parser dumps it
    Parse(ParseArgs),
    /// Print the build graph a Dockerfile compiles to
    Graph(GraphArgs),
}

#[derive(Debug, Args)]
pub struct ParseArgs {
    /// The Dockerfile (`-` reads standard input)
    #[arg(short = 'f', long = "file", default_value = "Dockerfile")]
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The Dockerfile (`-` reads standard input)
    #[arg(short = 'f', long = "file", default_value = "Dockerfile")]
    pub file: PathBuf,
    /// The stage to build (default: the last one)
    #[arg(long)]
    pub target: Option<String>,
    /// A build argument, NAME=value (or NAME to take the value from the environment)
    #[arg(long = "build-arg", value_name = "NAME=value")]
    pub build_args: Vec<String>,
    /// The platform to build for, os/arch[/variant] (default: this machine's)
    #[arg(long)]
    pub platform: Option<String>,
    /// Output format
    #[arg(long, default_value = "json", value_parser = ["json", "dot"])]
    pub format: String,
}

pub fn run(_global: &GlobalArgs, args: DebugArgs) -> anyhow::Result<i32> {
    match args.command {
        DebugCommand::Parse(a) => parse(a),
        DebugCommand::Graph(a) => graph(a),
    }
}

/// Reads the Dockerfile at `path` (`-`: stdin); returns the name to use in messages.
pub fn read_dockerfile(path: &PathBuf) -> anyhow::Result<(String, Vec<u8>)> {
    if path.as_os_str() == "-" {
        let mut data = Vec::new();
        std::io::stdin()
            .read_to_end(&mut data)
            .context("reading the Dockerfile from standard input")?;
        return Ok(("<stdin>".to_string(), data));
    }
    let data = std::fs::read(path).with_context(|| {
        format!(
            "cannot read the Dockerfile {}; pass its path with -f (or -f - for stdin)",
            path.display()
        )
    })?;
    Ok((path.display().to_string(), data))
}

fn parse(args: ParseArgs) -> anyhow::Result<i32> {
    let (name, data) = read_dockerfile(&args.file)?;
    let parsed = kiln_frontend::parser::parse(&name, &data)?;
    emit(&format!("{}\n", parsed.dump()))?;
    Ok(0)
}

fn graph(args: GraphArgs) -> anyhow::Result<i32> {
    let (name, data) = read_dockerfile(&args.file)?;
    let target_platform = match &args.platform {
        Some(p) => Some(parse_platform(p).with_context(|| format!("--platform {p}"))?),
        None => None,
    };
    let opts = CompileOptions {
        build_args: super::build::build_args(&args.build_args),
        target: args.target.clone(),
        target_platform,
        ..CompileOptions::default()
    };
    let compiled = compile(&name, &data, &opts, &NoImages)?;
    for w in &compiled.warnings {
        eprintln!("WARN: {} - {} (line {})", w.rule, w.message, w.start_line);
    }
    if args.format == "dot" {
        emit(&render::to_dot(&compiled.graph, Some(&compiled.root)))?;
    } else {
        let mut json = render::to_json(&compiled.graph, Some(&compiled.root));
        if let Some(obj) = json.as_object_mut() {
            obj.insert(
                "platform".into(),
                serde_json::json!(compiled.platform.to_string()),
            );
            obj.insert("config".into(), serde_json::to_value(&compiled.config)?);
            obj.insert("history".into(), serde_json::to_value(&compiled.history)?);
        }
        emit(&format!("{}\n", serde_json::to_string_pretty(&json)?))?;
    }
    Ok(0)
}

/// Writes to stdout; a closed pipe (`kiln debug graph | head`) is not an error.
pub fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("writing to standard output")
        }
        _ => Ok(()),
    }
}
