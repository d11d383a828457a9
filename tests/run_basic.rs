//! `kiln run` in the foreground: Entrypoint/Cmd combination, -e/-w/-u/--entrypoint/-i,
//! the container's exit code, and Docker's 125/126/127.

mod build_support;

use std::io::Write;
use std::process::Stdio;

use build_support::Kiln;

fn image_with_entrypoint(k: &Kiln) {
    let dir = k.path("ep");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM busybox\nRUN mkdir /data && echo not-exec > /data/plain\nWORKDIR /data\nENV FROM_IMAGE=yes\n\
         ENTRYPOINT [\"echo\", \"ep:\"]\nCMD [\"default-cmd\"]\n",
    )
    .unwrap();
    k.build(&["-t", "ep", dir.to_str().unwrap()]);
}

#[test]
fn entrypoint_and_cmd_combine_as_docker() {
    let k = Kiln::with_busybox();
    image_with_entrypoint(&k);
    assert_eq!(k.ok(&["run", "--rm", "ep"]), "ep: default-cmd\n");
    assert_eq!(k.ok(&["run", "--rm", "ep", "a", "b"]), "ep: a b\n");
    assert_eq!(
        k.ok(&["run", "--rm", "--entrypoint", "pwd", "ep"]),
        "/data\n"
    );
    assert_eq!(
        k.ok(&["run", "--rm", "--entrypoint", "", "ep", "echo", "no-ep"]),
        "no-ep\n"
    );
}

#[test]
fn env_workdir_user_and_stdin() {
    let k = Kiln::with_busybox();
    image_with_entrypoint(&k);
    let out = k.ok(&[
        "run",
        "--rm",
        "-e",
        "A=1",
        "-e",
        "FROM_IMAGE=overridden",
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "--entrypoint",
        "sh",
        "ep",
        "-c",
        "echo $A $FROM_IMAGE; pwd; id -u",
    ]);
    assert_eq!(out, "1 overridden\n/tmp\n65534\n");
    let mut child = k
        .cmd(&["run", "--rm", "-i", "busybox", "tr", "a-z", "A-Z"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"piped in\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "PIPED IN\n");
}

#[test]
fn exit_codes_follow_docker() {
    let k = Kiln::with_busybox();
    image_with_entrypoint(&k);
    let code = |args: &[&str]| k.run(args).status.code();
    assert_eq!(
        code(&["run", "--rm", "busybox", "sh", "-c", "exit 7"]),
        Some(7)
    );
    assert_eq!(
        code(&["run", "--rm", "busybox", "no-such-command"]),
        Some(127)
    );
    assert_eq!(
        code(&["run", "--rm", "--entrypoint", "/data/plain", "ep"]),
        Some(126)
    );
    assert_eq!(code(&["run", "--rm", "no-such-image"]), Some(125));
}

#[test]
fn sigpipe_has_its_default_action_in_containers() {
    // Rust ignores SIGPIPE and ignored signals survive exec: without the reset, `yes`
    // would spin on EPIPE forever here (hence the outer timeout).
    let k = Kiln::with_busybox();
    let out = std::process::Command::new("timeout")
        .arg("120")
        .arg(env!("CARGO_BIN_EXE_kiln"))
        .arg("--root")
        .arg(&k.root)
        .args(["run", "--rm", "busybox", "sh", "-c"])
        .arg("yes abc | head -c 3000000 | wc -c; trap - PIPE; echo ok")
        .env_remove("KILN_ROOT")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "3000000\nok\n");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("Broken pipe"),
        "yes saw EPIPE instead of being killed by SIGPIPE"
    );
}
