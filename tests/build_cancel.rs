//! Ctrl-C during a RUN step stops the container and leaves the store clean: no mounts, no
//! step directories, and the cache has no record of the unfinished step.

mod build_support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use build_support::Kiln;

#[test]
fn interrupt_stops_the_running_step_and_cleans_up() {
    let k = Kiln::with_busybox();
    let dir = k.path("ctx");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM busybox\nRUN echo started-long-step && sleep 300\n",
    )
    .unwrap();
    let mut child = k
        .cmd(&[
            "build",
            "--progress",
            "plain",
            "-t",
            "never",
            dir.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("started-long-step") {
            break;
        }
    }
    assert!(
        seen.contains("started-long-step"),
        "the step never started:\n{seen}"
    );
    let st = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{}", rest.join("\n"));
    assert!(
        rest.iter().any(|l| l.contains("cancelled")),
        "{}",
        rest.join("\n")
    );
    let root = k.root.to_str().unwrap().to_string();
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(!mounts.contains(&root), "mounts left behind:\n{mounts}");
    let leftovers: Vec<_> = std::fs::read_dir(k.root.join("build-tmp"))
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(!k.run(&["inspect", "never"]).status.success());
}
