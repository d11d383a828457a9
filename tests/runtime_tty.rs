//! Interactive containers through their monitor, driven from a pseudo-terminal the test
//! opens: `run -it` (type, read the answer, resize and check `stty size`, detach with
//! ctrl-p ctrl-q), `attach` again (with `--detach-keys`), `create -it` + `start -ai`, and
//! `run -i` with piped stdin.

mod pty_support;
mod runtime_support;

use pty_support::Pty;
use runtime_support::Rt;
use std::io::Write;
use std::process::Stdio;

/// kiln with ARGS on a pty the test holds the master of; killed on drop.
fn kiln_pty(rt: &Rt, args: &[&str]) -> Pty {
    Pty::spawn(rt.k.cmd(args))
}

#[test]
fn run_it_resize_detach_and_attach_again() {
    let rt = Rt::new();
    let mut s = kiln_pty(
        &rt,
        &[
            "run",
            "-it",
            "--name",
            "tty1",
            "--network",
            "none",
            "busybox",
            "sh",
        ],
    );
    s.expect("# ");
    // The command line echoes as hel''lo; only the output reads hello.
    s.send(b"echo hel''lo\r");
    s.expect("hello\r\n");
    // The window size the container sees follows this terminal's.
    s.send(b"stty size\r");
    s.expect("24 80");
    s.resize(33, 111);
    // The resize travels kiln -> monitor -> pty asynchronously; ask until it shows.
    rt.eventually("the new window size inside", || {
        s.send(b"stty size\r");
        s.expect("# ").contains("33 111")
    });
    // A lone ctrl-p is data, not half a detach: the shell still answers.
    s.send(b"\x10");
    s.send(b"\x15echo still\r");
    s.expect("still\r\n");
    s.send(b"\x10\x11");
    assert_eq!(s.wait(), 0, "detaching leaves kiln with 0");
    assert!(
        rt.field_by_name("tty1").starts_with("Up"),
        "still running after detach"
    );

    let mut a = kiln_pty(&rt, &["attach", "--detach-keys", "ctrl-a,x", "tty1"]);
    a.send(b"echo again$((40+2))\r");
    a.expect("again42");
    a.send(b"\x01x");
    assert_eq!(a.wait(), 0);
    assert!(rt.field_by_name("tty1").starts_with("Up"));

    let mut b = kiln_pty(&rt, &["attach", "tty1"]);
    b.send(b"echo third\r");
    b.expect("third\r\n");
    b.send(b"exit 3\r");
    assert_eq!(b.wait(), 3, "attach exits with the container's code");
    assert!(rt.field_by_name("tty1").starts_with("Exited (3)"));
    // Everything typed and printed went to the json-file log as well.
    let logs = rt.ok(&["logs", "tty1"]);
    assert!(logs.contains("again42") && logs.contains("third"), "{logs}");
}

#[test]
fn the_first_look_sees_the_starting_terminals_size() {
    let rt = Rt::new();
    // No attach has sent a size yet when `stty` runs: the size came with the start.
    let mut s = kiln_pty(
        &rt,
        &[
            "run",
            "-it",
            "--rm",
            "--network",
            "none",
            "busybox",
            "stty",
            "size",
        ],
    );
    s.expect("24 80");
    assert_eq!(s.wait(), 0);
}

#[test]
fn create_it_then_start_ai_and_piped_stdin() {
    let rt = Rt::new();
    let id = rt
        .ok(&[
            "create",
            "-it",
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            "echo ready; read line; echo \"got:$line\"; exit 7",
        ])
        .trim()
        .to_string();
    let mut s = kiln_pty(&rt, &["start", "-ai", &id]);
    // Printed before kiln connected to the monitor, and still shown.
    s.expect("ready");
    s.send(b"abc\r");
    s.expect("got:abc");
    assert_eq!(s.wait(), 7);

    // -i without a terminal: stdin streams through the monitor until its end.
    let mut child =
        rt.k.cmd(&[
            "run",
            "-i",
            "--rm",
            "--name",
            "piped",
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            "cat; echo err >&2; exit 5",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"one\ntwo\n").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one\ntwo\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    assert!(rt.field_by_name("piped").is_empty(), "--rm removed it");
}

#[test]
fn attach_to_a_detached_interactive_container_and_bad_keys() {
    let rt = Rt::new();
    let id = rt
        .ok(&["run", "-d", "-it", "--network", "none", "busybox", "sh"])
        .trim()
        .to_string();
    let (code, err) = rt.fails(&["attach", "--detach-keys", "meta-x", &id]);
    assert_eq!(code, 125);
    assert!(err.contains("invalid detach keys"), "{err}");
    let mut a = kiln_pty(&rt, &["attach", &id]);
    a.send(b"echo $((6*7))\r");
    a.expect("42");
    a.send(b"exit\r");
    assert_eq!(a.wait(), 0);

    // `run -it --rm`, detached: it runs on, and is removed once it ends.
    let mut s = kiln_pty(
        &rt,
        &[
            "run",
            "-it",
            "--rm",
            "--name",
            "rmme",
            "--network",
            "none",
            "busybox",
            "sh",
        ],
    );
    s.expect("# ");
    s.send(b"\x10\x11");
    assert_eq!(s.wait(), 0);
    assert!(rt.field_by_name("rmme").starts_with("Up"));
    let mut a = kiln_pty(&rt, &["attach", "rmme"]);
    a.send(b"exit 2\r");
    assert_eq!(a.wait(), 2);
    rt.eventually("rmme to be removed", || rt.field_by_name("rmme").is_empty());
}
