//! `kiln`: the command-line entry point. Parses the command tree, sets up logging and
//! hands each subcommand to its module under `cmd/`.

mod cli;
mod client;
mod cmd;
mod exit;
mod progress;

use clap::Parser;

fn main() {
    // Must come first, before clap and before any thread exists: when started with
    // argv[0] = "kiln-container-helper" (and the control socket on fd 3), this process is
    // the executor's container helper; it runs the container and never returns.
    kiln_executor::helper::maybe_run();
    // Likewise for the runtime: a detached container's monitor ("kiln-container-monitor")
    // and the `exec` helper ("kiln-container-exec", single-threaded for setns + fork).
    kiln_runtime::monitor::maybe_run();
    kiln_runtime::exec::maybe_run();
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help/--version print and succeed; usage errors exit as Docker's do.
            let _ = e.print();
            std::process::exit(exit::usage_error_code(&e));
        }
    };
    cli::init_logging(&cli.global);
    let code = match cmd::run(cli) {
        Ok(code) => code,
        Err(err) => exit::report(&err),
    };
    std::process::exit(code);
}
