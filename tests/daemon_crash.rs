//! `kill -9` of the daemon during builds: the clients fail with a clear error, a restarted
//! daemon finds the store consistent (`kiln system check`), the steps that finished before
//! the kill are cache hits, and the rebuilds complete.

mod build_support;
mod daemon_support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use build_support::{events, ran, Kiln};
use daemon_support::Daemon;

const BUILDS: usize = 4;

#[test]
fn kill_9_during_builds_then_restart_is_consistent_and_cached() {
    let k = Kiln::with_busybox();
    let mut dirs = Vec::new();
    for i in 0..BUILDS {
        let dir = k.path(&format!("ctx{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("Dockerfile"),
            format!(
                "FROM busybox\nRUN echo quick{i} > /quick\nRUN sleep 4 && echo slow{i} > /slow\n"
            ),
        )
        .unwrap();
        dirs.push(dir);
    }
    let mut d = Daemon::start(&k.root, k.tmp.path(), &["--jobs", "8"]);
    let clients: Vec<_> = dirs
        .iter()
        .map(|dir| {
            d.cmd(&["build", "--progress", "rawjson", dir.to_str().unwrap()])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Every build has finished its quick step and started its slow one.
    let deadline = Instant::now() + Duration::from_secs(60);
    while d.metric("kiln_build_steps_total{outcome=\"executed\"}") < (2 * BUILDS) as f64 {
        assert!(
            Instant::now() < deadline,
            "builds did not start:\n{}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    d.kill9();
    for c in clients {
        let out = c.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{err}");
        assert!(err.contains("stopped or crashed"), "{err}");
    }
    d.restart();
    let check = d.run(&["system", "check"]);
    let text = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(0), "{text}");
    assert!(text.contains("no corruption found"), "{text}");
    for (i, dir) in dirs.iter().enumerate() {
        let out = d.run(&["build", "--progress", "rawjson", dir.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ev = events(&out.stderr);
        assert_eq!(
            ran(&ev),
            vec![format!("RUN sleep 4 && echo slow{i} > /slow")],
            "the quick step finished before the kill and must be cached: {ev:?}"
        );
    }
    let ev = events(
        &d.run(&["build", "--progress", "rawjson", dirs[0].to_str().unwrap()])
            .stderr,
    );
    assert!(ran(&ev).is_empty(), "{ev:?}");
}
