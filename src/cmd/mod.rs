//! One module per subcommand; `run` dispatches to them and returns the process exit code.

pub mod version;

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Version(args) => version::run(&cli.global, args),
    }
}
