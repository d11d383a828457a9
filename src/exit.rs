//! Exit codes as Docker uses them, and the one place errors reach the user.

/// kiln's own failure (bad flag, bad input, internal error), as Docker's 125.
pub const KILN_ERROR: i32 = 125;

/// Print an error with its chain of causes and return the exit code for it.
pub fn report(err: &anyhow::Error) -> i32 {
    eprintln!("error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    KILN_ERROR
}
