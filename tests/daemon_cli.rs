//! Commands through `kiln daemon`: the same output and exit codes as in-process, stdin
//! forwarding, the store lock that keeps in-process commands off a daemon's store, and
//! what a second daemon on the same root or socket gets.

mod build_support;
mod daemon_support;

use std::io::Write;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::process::Stdio;

use build_support::Kiln;
use daemon_support::Daemon;

/// Replace the two stores' paths so their outputs compare.
fn norm(text: &[u8], root: &std::path::Path) -> String {
    String::from_utf8_lossy(text).replace(&*root.to_string_lossy(), "<root>")
}

#[test]
fn image_commands_print_and_exit_as_in_process() {
    let script: &[&[&str]] = &[
        &["images"],
        &["tag", "busybox", "example.com/team/app:1"],
        &["images"],
        &["images", "--format", "{{.Repository}}:{{.Tag}}"],
        &["history", "busybox"],
        &["inspect", "--format", "{{.Id}}", "example.com/team/app:1"],
        &["inspect", "no-such-image"],
        &["rmi", "example.com/team/app:1"],
        &["rmi", "no-such-image"],
        &["system", "df"],
        &["ps", "-a"],
        &["volume", "ls"],
        &["prune", "-f"],
        &["system", "check"],
    ];
    let local = Kiln::with_busybox();
    let remote = Kiln::with_busybox();
    let daemon = Daemon::start(&remote.root, remote.tmp.path(), &[]);
    for args in script {
        let a = local.run(args);
        let b = daemon.run(args);
        assert_eq!(
            (
                a.status.code(),
                norm(&a.stdout, &local.root),
                norm(&a.stderr, &local.root)
            ),
            (
                b.status.code(),
                norm(&b.stdout, &remote.root),
                norm(&b.stderr, &remote.root)
            ),
            "kiln {args:?}: in-process vs through the daemon\ndaemon log:\n{}",
            daemon.log_text()
        );
    }
    // Not vacuous: the failing lookups failed, the listing listed.
    assert_ne!(
        daemon.run(&["inspect", "no-such-image"]).status.code(),
        Some(0)
    );
    assert!(daemon.ok(&["images"]).contains("busybox"));
}

#[test]
fn containers_stdin_and_exit_codes_travel_through_the_daemon() {
    let k = Kiln::with_busybox();
    let d = Daemon::start(&k.root, k.tmp.path(), &[]);
    // Foreground run: stdout, stderr and the container's exit code.
    let out = d.run(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", d.log_text());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("err\n"));
    // stdin reaches the container with -i.
    let mut child = d
        .cmd(&["run", "-i", "--rm", "busybox", "tr", "a-z", "A-Z"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"shout\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "SHOUT\n");
    // Detached: logs, exec, stop, rm. (No network: this test is about the daemon.)
    let id = d.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo started; sleep 60",
    ]);
    let id = id.trim();
    assert!(!id.is_empty());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !d.ok(&["logs", id]).contains("started") {
        assert!(std::time::Instant::now() < deadline, "no log line");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(d.ok(&["exec", id, "echo", "inside"]), "inside\n");
    assert!(d.ok(&["ps"]).contains(&id[..12]));
    d.ok(&["stop", "-t", "1", id]);
    d.ok(&["rm", id]);
    assert!(!d.ok(&["ps", "-a"]).contains(&id[..12]));
    // A command kiln does not know: the usage error and Docker's exit code 1, from the daemon.
    let out = d.run(&["no-such-command"]);
    assert_eq!(out.status.code(), Some(1));
    // A command that does not read stdin leaves it to whoever reads next (a script's
    // loop, here `cat`).
    let kiln_cmd = format!(
        "{} --root {} --host {} images -q >/dev/null; cat",
        env!("CARGO_BIN_EXE_kiln"),
        k.root.display(),
        d.host
    );
    let mut sh = std::process::Command::new("sh")
        .args(["-c", &kiln_cmd])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    sh.stdin.take().unwrap().write_all(b"kept\n").unwrap();
    let out = sh.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "kept\n");
    // `load` from stdin.
    let archive = k.path("bb.tar");
    let st = std::process::Command::new(build_support::testdata("busybox-image.sh"))
        .arg(&archive)
        .status()
        .unwrap();
    assert!(st.success());
    let out = d
        .cmd(&["load"])
        .stdin(std::fs::File::open(&archive).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Loaded image"));
}

#[test]
fn the_daemon_owns_its_store_and_its_socket() {
    let k = Kiln::with_busybox();
    let other = Kiln::with_busybox();
    let mut d = Daemon::start(&k.root, k.tmp.path(), &[]);
    let mode = std::fs::metadata(&d.sock).unwrap();
    assert!(mode.file_type().is_socket());
    assert_eq!(mode.permissions().mode() & 0o777, 0o660);
    // In-process use of the daemon's store is refused, with the way out.
    let out = k.run(&["images"]);
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("owned by a running kiln daemon"), "{err}");
    assert!(err.contains("KILN_HOST"), "{err}");
    // A second daemon on the same store, or on the same socket, is refused.
    let sock2 = k.path("second.sock");
    let out = daemon_support::kiln()
        .arg("--root")
        .arg(&k.root)
        .args(["--host", &format!("unix://{}", sock2.display()), "daemon"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another kiln daemon"));
    let out = daemon_support::kiln()
        .arg("--root")
        .arg(&other.root)
        .args(["--host", &d.host, "daemon"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is listening on"));
    assert!(
        d.sock.exists(),
        "the refused daemon must not remove the socket"
    );
    // SIGTERM: the socket goes, and the store is free for in-process use again.
    assert!(d.stop().unwrap().success(), "{}", d.log_text());
    assert!(!d.sock.exists());
    assert!(k.ok(&["images"]).contains("busybox"));
    // A socket left by a killed daemon does not stop the next one.
    d.restart();
    d.kill9();
    assert!(d.sock.exists());
    d.restart();
    assert!(d.ok(&["images"]).contains("busybox"));
    // An unreachable --host is kiln's own error.
    let out = daemon_support::kiln()
        .args(["--host", "unix:///nonexistent/kiln.sock", "images"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach the kiln daemon"));
}
