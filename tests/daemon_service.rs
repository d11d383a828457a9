//! The service around the builds: Prometheus metrics on their own TCP address, the GC
//! policy applied periodically and reloaded with SIGHUP, `/v1/info`, and a SIGTERM that
//! lets a running build finish.

mod build_support;
mod daemon_support;

use std::io::{Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use build_support::{events, ran, Kiln};
use daemon_support::certs::free_port;
use daemon_support::{metric_value, parse_http, Daemon};

fn http_get_tcp(addr: &str, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: kiln\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    parse_http(&text).unwrap()
}

fn wait_for(what: &str, d: &Daemon, cond: impl FnMut() -> bool) {
    d.wait_for(
        what,
        Duration::from_secs(30),
        Duration::from_millis(100),
        cond,
    );
}

#[test]
fn metrics_gc_policy_and_sighup_reload() {
    let k = Kiln::with_busybox();
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let config = k.path("kiln.toml");
    let keep_all = format!(
        "metrics_address = \"{metrics_addr}\"\n[gc]\nkeep_duration = \"24h\"\ninterval = \"1s\"\n"
    );
    std::fs::write(&config, &keep_all).unwrap();
    let d = Daemon::start(
        &k.root,
        k.tmp.path(),
        &["--config", config.to_str().unwrap()],
    );
    let ctx = k.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN echo cached > /f\n",
    )
    .unwrap();
    let c = ctx.to_str().unwrap();
    d.ok(&["build", "-q", c]);
    let (status, body) = http_get_tcp(&metrics_addr, "/metrics");
    assert_eq!(status, 200);
    assert_eq!(
        metric_value(&body, "kiln_builds_total{result=\"success\"}"),
        1.0
    );
    assert_eq!(
        metric_value(&body, "kiln_build_steps_total{outcome=\"executed\"}"),
        1.0
    );
    assert!(metric_value(&body, "kiln_store_size_bytes") > 0.0, "{body}");
    assert!(
        body.contains("kiln_build_duration_seconds_count 1\n"),
        "{body}"
    );
    // The policy keeps a day of cache: the rebuild hits, with GC running every second.
    let runs = d.metric("kiln_gc_runs_total");
    wait_for("a GC run", &d, || d.metric("kiln_gc_runs_total") > runs);
    let ev = events(&d.run(&["build", "--progress", "rawjson", c]).stderr);
    assert!(ran(&ev).is_empty(), "{ev:?}");
    assert!(d.metric("kiln_cache_hit_ratio") > 0.0);
    // SIGHUP with keep_storage = 0: the next GC run prunes the build cache that no image
    // uses (cache an image uses frees nothing and stays), so the images go first.
    for id in d
        .ok(&["images", "-q", "--filter", "dangling=true"])
        .split_whitespace()
    {
        d.ok(&["rmi", id]);
    }
    std::fs::write(&config, format!("{keep_all}keep_storage = 0\n")).unwrap();
    d.signal("HUP");
    wait_for("the reloaded policy", &d, || {
        let (_, info) = d.get("/v1/info");
        let v: serde_json::Value = serde_json::from_str(&info).unwrap();
        v["gc"]["keep_storage_bytes"] == 0
    });
    let runs = d.metric("kiln_gc_runs_total");
    wait_for("a GC run", &d, || d.metric("kiln_gc_runs_total") > runs);
    let ev = events(&d.run(&["build", "--progress", "rawjson", c]).stderr);
    assert_eq!(ran(&ev), vec!["RUN echo cached > /f"], "{ev:?}");
    // A config the daemon cannot read keeps the old one.
    std::fs::write(&config, "gc = [").unwrap();
    d.signal("HUP");
    wait_for("the reload error", &d, || {
        d.log_text().contains("keeping the old config")
    });
    let (status, info) = d.get("/v1/info");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(v["root"], k.root.to_str().unwrap());
    assert_eq!(v["builds_total"], 3);
    // An unknown route says so, as JSON.
    let (status, body) = d.get("/v2/nothing");
    assert_eq!(status, 404);
    assert!(body.contains("no route"), "{body}");
}

#[test]
fn sigterm_lets_the_running_build_finish() {
    let k = Kiln::with_busybox();
    let mut d = Daemon::start(&k.root, k.tmp.path(), &[]);
    let ctx = k.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN sleep 2 && echo done > /f\n",
    )
    .unwrap();
    let client = d
        .cmd(&["build", "-q", "-t", "finished", ctx.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the build to start", &d, || {
        d.metric("kiln_build_steps_total{outcome=\"executed\"}") >= 1.0
    });
    let status = d.stop().unwrap();
    assert!(status.success(), "{}", d.log_text());
    let out = client.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("sha256:"));
    // The image is there for in-process use now that the daemon is gone.
    assert!(k.ok(&["images"]).contains("finished"));
}

#[test]
fn sigterm_cancels_what_outlasts_the_shutdown_timeout() {
    let k = Kiln::with_busybox();
    let config = k.path("kiln.toml");
    std::fs::write(&config, "shutdown_timeout = \"1s\"\n").unwrap();
    let mut d = Daemon::start(
        &k.root,
        k.tmp.path(),
        &["--config", config.to_str().unwrap()],
    );
    let ctx = k.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nRUN sleep 60\n").unwrap();
    let client = d
        .cmd(&["build", "--progress", "plain", ctx.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the build to start", &d, || {
        d.metric("kiln_build_steps_total{outcome=\"executed\"}") >= 1.0
    });
    let t = Instant::now();
    assert!(d.stop().unwrap().success(), "{}", d.log_text());
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "the daemon waited for the whole build"
    );
    let out = client.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("build cancelled"), "{err}");
    assert!(
        d.log_text().contains("cancelling 1 builds"),
        "{}",
        d.log_text()
    );
}
