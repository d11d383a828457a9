//! `--runtime runc`: builds and foreground runs go through runc (from an OCI bundle kiln
//! writes) instead of kiln's native runtime, with the same results.

mod build_support;

use build_support::{ran, testdata, Kiln};

#[test]
fn build_and_run_through_runc() {
    let k = Kiln::with_busybox();
    let example = testdata("example");
    let d = example.to_str().unwrap();
    let steps = ran(&k.build(&["--runtime", "runc", "-t", "example", d]));
    assert!(steps.iter().any(|s| s.starts_with("RUN")), "{steps:?}");
    assert_eq!(
        k.ok(&["--runtime", "runc", "run", "--rm", "example"]),
        "hello from kiln\n"
    );
    // The runtime is not part of a step's cache key: the native runtime reuses runc's work.
    assert!(ran(&k.build(&["-t", "example", d])).is_empty());
    assert_eq!(k.ok(&["run", "--rm", "example"]), "hello from kiln\n");
    let out = k.run(&[
        "--runtime",
        "runc",
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "exit 7",
    ]);
    assert_eq!(out.status.code(), Some(7));
    // Proof that runc itself ran the container: its own error for a missing command.
    let out = k.run(&["--runtime", "runc", "run", "--rm", "busybox", "nosuchcmd"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("runc run failed"), "{err}");
}

#[test]
fn unknown_runtime_is_a_usage_error() {
    let k = Kiln::with_busybox();
    let out = k.run(&["--runtime", "crun", "run", "--rm", "busybox", "true"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid value 'crun'"), "{err}");
}
