//! `kiln build` through the daemon: only the selected context files are sent, progress
//! and results print as in-process, failures exit as in-process, and the cache keys are
//! the in-process build's (a daemon build's steps are cache hits in-process and back).

mod build_support;
mod daemon_support;

use build_support::{events, ran, Kiln};
use daemon_support::Daemon;

fn write(dir: &std::path::Path, name: &str, text: &str) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// Files under `dir`, relative, sorted.
fn files(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_daemon_receives_only_the_files_the_build_selects() {
    let k = Kiln::with_busybox();
    let ctx = k.path("ctx");
    write(&ctx, "Dockerfile", "FROM busybox\nCOPY app/main.txt /main.txt\nCOPY conf /conf\nRUN cat /main.txt /conf/a.conf\n");
    write(&ctx, "app/main.txt", "main\n");
    write(&ctx, "app/unused.txt", "not selected\n");
    write(&ctx, "conf/a.conf", "a\n");
    write(&ctx, "conf/secret.key", "ignored\n");
    write(&ctx, ".dockerignore", "conf/*.key\n");
    write(&ctx, "big/data.bin", &"x".repeat(1 << 20));
    let d = Daemon::start(&k.root, k.tmp.path(), &[]);
    let ev = events(
        &d.run(&[
            "build",
            "--progress",
            "rawjson",
            "-t",
            "sel",
            ctx.to_str().unwrap(),
        ])
        .stderr,
    );
    assert!(
        ran(&ev).iter().any(|s| s.starts_with("RUN cat")),
        "{ev:?}\n{}",
        d.log_text()
    );
    // The build's context directory in the daemon holds what was sent, until the next
    // build reuses it.
    let received = files(&k.root.join("daemon/contexts/0"));
    assert_eq!(
        received,
        vec!["app/main.txt", "conf/a.conf"],
        "{}",
        d.log_text()
    );
    let out = d.ok(&["run", "--rm", "sel", "ls", "/conf"]);
    assert_eq!(out, "a.conf\n");
}

#[test]
fn build_output_results_and_failures_match_in_process() {
    let k = Kiln::with_busybox();
    let ctx = k.path("ctx");
    write(
        &ctx,
        "Dockerfile",
        "FROM busybox\nCOPY a.txt /a.txt\nRUN cat /a.txt > /b.txt\n",
    );
    write(&ctx, "a.txt", "hello\n");
    let bad = k.path("bad");
    write(
        &bad,
        "Dockerfile",
        "FROM busybox\nRUN echo before\nRUN echo failing; exit 7\nRUN echo never\n",
    );
    let broken = k.path("broken");
    write(&broken, "Dockerfile", "FROM busybox\nNOTANINSTRUCTION x\n");
    let c = ctx.to_str().unwrap();
    let iid = k.path("iid");
    let meta = k.path("meta.json");
    let mut d = Daemon::start(&k.root, k.tmp.path(), &[]);

    // First build: runs; plain progress names the steps; the summary and id files follow.
    let out = d.run(&[
        "build",
        "--progress",
        "plain",
        "-t",
        "app:1",
        "--iidfile",
        iid.to_str().unwrap(),
        "--metadata-file",
        meta.to_str().unwrap(),
        c,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}\n{}", d.log_text());
    assert!(err.contains("RUN cat /a.txt > /b.txt"), "{err}");
    assert!(
        err.contains("naming to docker.io/library/app:1 done"),
        "{err}"
    );
    let id = std::fs::read_to_string(&iid).unwrap();
    assert!(
        err.contains(&format!("writing image {id} done (2 steps ran")),
        "{err}"
    );
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    assert_eq!(m["containerimage.config.digest"], id.as_str());
    assert_eq!(m["image.name"], "docker.io/library/app:1");
    assert_eq!(d.ok(&["run", "--rm", "app:1", "cat", "/b.txt"]), "hello\n");
    // Rebuild: all cached; -q prints only the id, on stdout.
    let q = d.ok(&["build", "-q", "-t", "app:1", c]);
    assert!(q.trim().starts_with("sha256:"), "{q}");
    let ev = events(&d.run(&["build", "--progress", "rawjson", c]).stderr);
    assert!(ran(&ev).is_empty(), "{ev:?}");
    assert!(ev.iter().any(|e| e["type"] == "cached"));

    // A failing RUN: exit 1, the error, the excerpt, the last good state.
    let out = d.run(&["build", "--progress", "plain", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("ERROR: failed to solve:"), "{err}");
    assert!(err.contains(">>> RUN echo failing; exit 7"), "{err}");
    assert!(
        err.contains("the state before the failing step is image"),
        "{err}"
    );
    // A Dockerfile that does not compile: exit 1, as in-process.
    let out = d.run(&["build", broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ERROR: failed to solve"));
    // kiln's own errors: 125.
    let out = d.run(&["build", k.path("missing").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125));
    let out = d.run(&["build", "-t", "Bad Tag", c]);
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid tag"));
    // A build the typed API does not carry (a local output) is forwarded whole.
    let dest = k.path("out");
    d.ok(&[
        "build",
        "-q",
        "--output",
        &format!("type=local,dest={}", dest.display()),
        c,
    ]);
    assert_eq!(
        std::fs::read_to_string(dest.join("b.txt")).unwrap(),
        "hello\n"
    );

    // Same cache keys in-process: the daemon's steps are hits there.
    d.stop();
    let ev = k.build(&[c]);
    assert!(ran(&ev).is_empty(), "in-process after daemon: {ev:?}");
    // And a step run in-process is a hit through the daemon.
    write(
        &ctx,
        "Dockerfile",
        "FROM busybox\nCOPY a.txt /a.txt\nRUN cat /a.txt > /b.txt\nRUN echo more > /c.txt\n",
    );
    let ev = k.build(&[c]);
    assert_eq!(ran(&ev), vec!["RUN echo more > /c.txt"]);
    d.restart();
    let ev = events(&d.run(&["build", "--progress", "rawjson", c]).stderr);
    assert!(
        ran(&ev).is_empty(),
        "through the daemon after in-process: {ev:?}"
    );
}

#[test]
fn du_and_system_info_in_process_and_through_the_daemon() {
    let k = Kiln::with_busybox();
    let ctx = k.path("ctx");
    write(&ctx, "Dockerfile", "FROM busybox\nRUN echo layer > /l\n");
    let c = ctx.to_str().unwrap();
    k.build(&["-t", "duimg", c]);
    // In-process: the RUN's record is shared with the image until the image goes.
    let du = k.ok(&["du"]);
    let line = du
        .lines()
        .find(|l| l.contains("RUN echo layer"))
        .unwrap_or_else(|| panic!("{du}"));
    assert!(line.contains("shared"), "{du}");
    k.ok(&["rmi", "duimg"]);
    let du = k.ok(&["du", "--format", "json"]);
    let rec: serde_json::Value = du
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| {
            v["Description"]
                .as_str()
                .unwrap_or_default()
                .contains("RUN echo layer")
        })
        .unwrap();
    assert_eq!(rec["Shared"], false, "{du}");
    assert!(rec["Size"].as_u64().unwrap() > 0);
    let info = k.ok(&["system", "info"]);
    assert!(info.contains("Daemon: none (in-process)"), "{info}");
    // Through the daemon: the service's figures.
    let d = Daemon::start(&k.root, k.tmp.path(), &[]);
    d.ok(&["build", "-q", c]);
    let v: serde_json::Value =
        serde_json::from_str(&d.ok(&["system", "info", "--format", "json"])).unwrap();
    assert_eq!(v["daemon"], true);
    assert_eq!(v["builds_total"], 1);
    assert_eq!(v["steps_cached"], 1, "{v}");
    assert_eq!(v["steps_executed"], 0, "{v}");
    assert_eq!(v["root"], k.root.to_str().unwrap());
    assert!(d
        .ok(&["system", "info"])
        .contains(&format!("Daemon: pid {}", d.pid())));
    assert!(d.ok(&["du"]).contains("RUN echo layer"));
}
