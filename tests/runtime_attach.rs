//! `attach` and `start -a`: the container's output from now on, its exit code, and signals
//! proxied to it.

mod runtime_support;

use runtime_support::Rt;
use std::process::Stdio;

#[test]
fn start_attach_and_attach_with_signal_proxy() {
    let rt = Rt::new();
    let id = rt
        .ok(&["create", "busybox", "sh", "-c", "echo first; exit 6"])
        .trim()
        .to_string();
    let out = rt.run(&["start", "-a", &id]);
    assert_eq!(out.status.code(), Some(6));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "first\n");
    // A second run shows only its own output.
    let out = rt.run(&["start", "-a", &id]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "first\n");

    let trap = rt.detached(&[
        "busybox",
        "sh",
        "-c",
        "trap 'echo term; exit 3' TERM; echo ready; while true; do sleep 0.05; done",
    ]);
    rt.eventually("ready", || rt.ok(&["logs", &trap]).contains("ready"));
    let child =
        rt.k.cmd(&["attach", &trap])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
    // Give attach a moment to install its signal proxy (a polling bound, not a speed goal).
    rt.eventually("attach to be waiting", || {
        std::fs::read_to_string(format!("/proc/{}/status", child.id()))
            .map(|s| s.contains("SigBlk:\t") && !s.contains("SigBlk:\t0000000000000000"))
            .unwrap_or(false)
    });
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "term\n");
    let (_, err) = rt.fails(&["attach", &trap]);
    assert!(err.contains("stopped container"), "{err}");
}
