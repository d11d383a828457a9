//! The container helper as a standalone binary, for this crate's tests and benchmarks; the
//! kiln binary carries the same hook.

fn main() {
    kiln_executor::helper::maybe_run();
    eprintln!(
        "kiln-executor-helper: start me with argv[0] = {:?} and the control socket on fd {}",
        kiln_executor::helper::HELPER_ARG0,
        kiln_executor::helper::CONTROL_FD
    );
    std::process::exit(2);
}
