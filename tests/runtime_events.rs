//! `kiln events`: container events in order, with filters and JSON output, and a live
//! stream that sees events as they happen.

mod runtime_support;

use runtime_support::Rt;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

#[test]
fn lifecycle_events_in_order_and_live() {
    let rt = Rt::new();
    // A live follower started before anything happens.
    let mut live =
        rt.k.cmd(&[
            "events",
            "--filter",
            "event=die",
            "--format",
            "{{.Action}} {{.Actor.Attributes.exitCode}}",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let id = rt.detached(&["--name", "ev", "busybox", "sh", "-c", "exit 4"]);
    rt.ok(&["wait", &id]);
    rt.ok(&["rename", "ev", "ev2"]);
    rt.ok(&["rm", &id]);
    // Read on a thread so a missing event fails the test instead of hanging it.
    let stdout = live.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let first = rx.recv_timeout(std::time::Duration::from_secs(30));
    let _ = live.kill();
    let _ = live.wait();
    let first = first.expect("no die event on the live stream");
    assert_eq!(first.trim(), "die 4");

    let out = rt.ok(&[
        "events", "--since", "1h", "--until", "0s", "--format", "json",
    ]);
    let actions: Vec<String> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["Actor"]["ID"] == id.as_str())
        .map(|v| v["Action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(actions, ["create", "start", "die", "rename", "destroy"]);
    let filtered = rt.ok(&[
        "events",
        "--since",
        "1h",
        "--until",
        "0s",
        "--filter",
        "container=ev",
        "--filter",
        "event=create",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]);
    assert_eq!(filtered.trim(), "create ev");
    let (_, err) = rt.fails(&["events", "--filter", "bogus=1", "--until", "0s"]);
    assert!(err.contains("invalid filter key"), "{err}");
}
