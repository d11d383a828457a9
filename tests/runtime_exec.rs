//! `exec` into a running container: same filesystem, pid namespace and cgroup; -e/-u/-w/-i;
//! -d; -t through a pseudo-terminal; exit codes (the process's, 126, 127).

mod runtime_support;

use runtime_support::Rt;
use std::io::Write;
use std::process::Stdio;

fn running(rt: &Rt) -> String {
    let id = rt.detached(&[
        "-e",
        "FROM_RUN=1",
        "-w",
        "/srv",
        "busybox",
        "sh",
        "-c",
        "echo state > /srv/mark; echo ready; exec sleep 60",
    ]);
    rt.eventually("ready", || rt.ok(&["logs", &id]).contains("ready"));
    id
}

#[test]
fn exec_joins_the_container() {
    let rt = Rt::new();
    let id = running(&rt);
    // The container's files, environment and working directory.
    assert_eq!(rt.ok(&["exec", &id, "cat", "/srv/mark"]), "state\n");
    assert_eq!(rt.ok(&["exec", &id, "pwd"]), "/srv\n");
    assert_eq!(rt.ok(&["exec", &id, "sh", "-c", "echo $FROM_RUN"]), "1\n");
    // Its pid namespace: pid 1 is the container's command.
    assert_eq!(rt.ok(&["exec", &id, "cat", "/proc/1/comm"]), "sleep\n");
    // Its cgroups: inside the cgroup namespace both are at the root.
    let mine = rt.ok(&["exec", &id, "cat", "/proc/self/cgroup"]);
    let init = rt.ok(&["exec", &id, "cat", "/proc/1/cgroup"]);
    assert_eq!(mine, init);
    // Its hostname (the short id).
    assert_eq!(rt.ok(&["exec", &id, "hostname"]).trim(), &id[..12]);
    // Capabilities are the container's, not the host's full set.
    let caps = rt.ok(&["exec", &id, "sh", "-c", "grep CapEff /proc/self/status"]);
    assert!(!caps.contains("000001ffffffffff"), "{caps}");
}

#[test]
fn exec_flags_and_exit_codes() {
    let rt = Rt::new();
    let id = running(&rt);
    assert_eq!(
        rt.ok(&["exec", "-e", "X=y", &id, "sh", "-c", "echo $X"]),
        "y\n"
    );
    assert_eq!(rt.ok(&["exec", "-u", "nobody", &id, "id", "-u"]), "65534\n");
    assert_eq!(rt.ok(&["exec", "-w", "/tmp", &id, "pwd"]), "/tmp\n");
    assert_eq!(
        rt.run(&["exec", &id, "sh", "-c", "exit 7"]).status.code(),
        Some(7)
    );
    assert_eq!(
        rt.run(&["exec", &id, "no-such-cmd"]).status.code(),
        Some(127)
    );
    assert_eq!(rt.run(&["exec", &id, "/srv/mark"]).status.code(), Some(126));
    // -i passes stdin.
    let mut child =
        rt.k.cmd(&["exec", "-i", &id, "sh", "-c", "read l; echo got:$l"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "got:hello\n");
    // -d returns at once; the process runs on in the container.
    rt.ok(&[
        "exec",
        "-d",
        &id,
        "sh",
        "-c",
        "sleep 0.2; echo bg > /srv/bg",
    ]);
    rt.eventually("the detached exec", || {
        rt.run(&["exec", &id, "cat", "/srv/bg"]).stdout == b"bg\n"
    });
    // -t gives a terminal.
    let tty = rt.ok(&["exec", "-t", &id, "tty"]);
    assert!(tty.starts_with("/dev/pts/"), "{tty:?}");
    // Not running: 125-class error.
    rt.ok(&["stop", "-t", "0", &id]);
    let (code, err) = rt.fails(&["exec", &id, "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("not running"), "{err}");
}

#[test]
fn exec_tty_takes_the_callers_window_size() {
    let rt = Rt::new();
    let id = running(&rt);
    // `script` (util-linux) gives kiln a terminal whose size we set first.
    let kiln = format!(
        "{} --root {} exec -t {id} stty size",
        env!("CARGO_BIN_EXE_kiln"),
        rt.root().display()
    );
    let out = std::process::Command::new("script")
        .args([
            "-qec",
            &format!("stty rows 41 cols 99; {kiln}"),
            "/dev/null",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("41 99"), "{text:?}");
}

#[test]
fn exec_leaks_no_descriptors() {
    let rt = Rt::new();
    let id = running(&rt);
    let fds = rt.ok(&["exec", &id, "ls", "/proc/self/fd"]);
    // 0-2 and the descriptor ls opened to read the directory.
    assert!(fds.split_whitespace().count() <= 4, "{fds}");
}
