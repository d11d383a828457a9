//! Exit codes as Docker uses them, and the one place errors reach the user.

/// kiln's own failure (bad flag, bad input, internal error), as Docker's 125.
pub const KILN_ERROR: i32 = 125;

/// The exit code for a command line clap rejects: 0 for `--help`/`--version`, 1 for an
/// unknown command (as `docker foo`), 125 for bad flags or values (as Docker's flag errors).
pub fn usage_error_code(e: &clap::Error) -> i32 {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
        ErrorKind::InvalidSubcommand => 1,
        _ => KILN_ERROR,
    }
}

/// Print an error with its chain of causes and return the exit code for it.
pub fn report(err: &anyhow::Error) -> i32 {
    eprintln!("error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    KILN_ERROR
}
