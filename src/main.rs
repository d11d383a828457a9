//! `kiln`: the command-line entry point. Parses the command tree, sets up logging and
//! hands each subcommand to its module under `cmd/`.

mod cli;
mod cmd;
mod exit;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    cli::init_logging(&cli.global);
    let code = match cmd::run(cli) {
        Ok(code) => code,
        Err(err) => exit::report(&err),
    };
    std::process::exit(code);
}
