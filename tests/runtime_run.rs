//! `kiln run` through the runtime: `-d` (detached, prints the id), and attached runs with
//! runtime options (`--name`, `-v`, `--restart`, ...), `--rm` both ways, Docker's exit codes.

mod runtime_support;

use runtime_support::Rt;

#[test]
fn run_detached() {
    let rt = Rt::new();
    let id = rt.ok(&["run", "-d", "--name", "bg", "busybox", "sleep", "60"]);
    let id = id.trim();
    assert_eq!(id.len(), 64, "{id}");
    assert_eq!(rt.field(id, "{{.Names}} {{.State}}"), "bg running");
    // --rm with -d: the monitor removes it when it exits.
    let gone = rt.ok(&["run", "-d", "--rm", "busybox", "true"]);
    rt.eventually("--rm removal", || {
        !rt.ok(&["ps", "-aq", "--no-trunc"]).contains(gone.trim())
    });
    // A command that is not there: Docker's 127, the container stays (exited).
    let out = rt.run(&["run", "-d", "--name", "bad", "busybox", "/no/such"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(rt.field_by_name("bad").starts_with("Exited (127)"));
    let out = rt.run(&["run", "-d", "--rm", "busybox", "/no/such"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(!rt
        .ok(&["ps", "-a", "--format", "{{.Names}}"])
        .contains("no/such"));
}

#[test]
fn run_attached_with_runtime_options() {
    let rt = Rt::new();
    let out = rt.run(&[
        "run",
        "--name",
        "att",
        "-v",
        "data:/d",
        "busybox",
        "sh",
        "-c",
        "echo hi > /d/f; cat /d/f; echo err >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    assert!(rt.field_by_name("att").starts_with("Exited (3)"));
    // The named volume outlives the container.
    let out = rt.run(&[
        "run", "--rm", "--name", "reader", "-v", "data:/d", "busybox", "cat", "/d/f",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
    assert!(!rt
        .ok(&["ps", "-a", "--format", "{{.Names}}"])
        .contains("reader"));
    // The foreground path without runtime options is unchanged.
    assert_eq!(
        rt.ok(&["run", "--rm", "busybox", "echo", "plain"]),
        "plain\n"
    );
    // -i with runtime options streams stdin through the monitor (tests/runtime_tty.rs).
    assert_eq!(
        rt.ok(&[
            "run",
            "-i",
            "--name",
            "x",
            "busybox",
            "sh",
            "-c",
            "cat; echo end"
        ]),
        "end\n"
    );
}
