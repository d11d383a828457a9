//! 16 builds at once through one daemon — some identical, some sharing a prefix, some
//! different — all succeed, and every distinct step runs exactly once: the executed RUN
//! steps (progress events of all clients) equal the distinct RUN cache keys, and the
//! daemon's metrics agree.

mod build_support;
mod daemon_support;

use build_support::{events, Kiln};
use daemon_support::Daemon;

/// (Dockerfile, clients building it). The RUNs sleep so that identical steps overlap.
const VARIANTS: &[(&str, usize)] = &[
    // A: five identical builds.
    (
        "FROM busybox\nRUN sleep 2 && echo A > /a\nRUN echo A2 > /a2\n",
        5,
    ),
    // B: shares A's first RUN.
    (
        "FROM busybox\nRUN sleep 2 && echo A > /a\nRUN echo B > /b\n",
        4,
    ),
    // C: different.
    ("FROM busybox\nRUN sleep 2 && echo C > /c\n", 4),
    // D: reads the context.
    (
        "FROM busybox\nCOPY f.txt /f.txt\nRUN sleep 1 && cat /f.txt > /d\n",
        3,
    ),
];
/// Distinct RUN steps: A's two, B's second, C's, D's.
const DISTINCT_RUNS: usize = 5;
/// Distinct executed steps of any kind: the RUNs and D's COPY.
const DISTINCT_STEPS: f64 = 6.0;

#[test]
fn sixteen_concurrent_builds_run_each_distinct_step_once() {
    let k = Kiln::with_busybox();
    let mut contexts = Vec::new();
    for (i, (dockerfile, n)) in VARIANTS.iter().enumerate() {
        let dir = k.path(&format!("ctx{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
        std::fs::write(dir.join("f.txt"), "from the context\n").unwrap();
        for _ in 0..*n {
            contexts.push((i, dir.clone()));
        }
    }
    assert_eq!(contexts.len(), 16);
    let d = Daemon::start(&k.root, k.tmp.path(), &[]);
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = contexts
            .iter()
            .map(|(i, dir)| {
                let d = &d;
                s.spawn(move || {
                    let tag = format!("v{i}");
                    (
                        *i,
                        d.run(&[
                            "build",
                            "--progress",
                            "rawjson",
                            "-t",
                            &tag,
                            dir.to_str().unwrap(),
                        ]),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut started_runs = Vec::new();
    let mut shared = 0;
    for (i, out) in &results {
        assert!(
            out.status.success(),
            "variant {i} failed:\n{}\ndaemon log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            d.log_text()
        );
        for e in events(&out.stderr) {
            let name = e["name"].as_str().unwrap_or_default().to_string();
            match e["type"].as_str() {
                Some("started") if name.contains("RUN ") => started_runs.push(name),
                Some("shared") => shared += 1,
                _ => {}
            }
        }
    }
    started_runs.sort();
    assert_eq!(
        started_runs.len(),
        DISTINCT_RUNS,
        "each distinct RUN must run once across all builds: {started_runs:?}"
    );
    assert_eq!(
        d.metric("kiln_build_steps_total{outcome=\"executed\"}"),
        DISTINCT_STEPS
    );
    assert_eq!(d.metric("kiln_builds_total{result=\"success\"}"), 16.0);
    assert_eq!(
        d.metric("kiln_build_steps_total{outcome=\"shared\"}"),
        shared as f64
    );
    // Every image has its files.
    assert_eq!(d.ok(&["run", "--rm", "v0", "cat", "/a", "/a2"]), "A\nA2\n");
    assert_eq!(d.ok(&["run", "--rm", "v1", "cat", "/a", "/b"]), "A\nB\n");
    assert_eq!(d.ok(&["run", "--rm", "v2", "cat", "/c"]), "C\n");
    assert_eq!(
        d.ok(&["run", "--rm", "v3", "cat", "/d"]),
        "from the context\n"
    );
}
