//! The daemon's GC policy per type, applied every second: build cache beyond keep-storage
//! (measured on the files it keeps: layer blobs, not record sizes) goes least recently
//! used first while cache that images use stays; dangling images older than their
//! keep-duration go; cache mounts beyond their keep-storage go.

mod build_support;
mod daemon_support;

use std::path::Path;
use std::time::{Duration, Instant};

use build_support::{events, ran, Kiln};
use daemon_support::Daemon;

fn wait_for(what: &str, d: &Daemon, cond: impl FnMut() -> bool) {
    d.wait_for(
        what,
        Duration::from_secs(60),
        Duration::from_millis(200),
        cond,
    );
}

/// Bytes of the files under `dir` (0 when it does not exist).
fn bytes_under(dir: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| bytes_under(&e.path())).sum())
        .unwrap_or(0)
}

fn build(d: &Daemon, ctx: &Path, dockerfile: &str, tag: Option<&str>) -> Vec<String> {
    std::fs::create_dir_all(ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    let mut args = vec!["build", "--progress", "rawjson"];
    if let Some(t) = tag {
        args.extend(["-t", t]);
    }
    args.push(ctx.to_str().unwrap());
    let out = d.run(&args);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        d.log_text()
    );
    ran(&events(&out.stderr))
}

/// A step that adds 3 MB that do not compress.
fn big(name: &str) -> String {
    format!("FROM busybox\nRUN head -c 3000000 /dev/urandom > /big && echo {name}\n")
}

#[test]
fn gc_policy_per_type_on_real_disk_use() {
    let k = Kiln::with_busybox();
    let config = k.path("kiln.toml");
    std::fs::write(
        &config,
        "[gc]\nkeep_storage = \"5MB\"\ninterval = \"1s\"\n[gc.images]\nkeep_duration = \"1s\"\n[gc.cache_mounts]\nkeep_storage = \"1MB\"\n",
    )
    .unwrap();
    let d = Daemon::start(
        &k.root,
        k.tmp.path(),
        &["--config", config.to_str().unwrap()],
    );
    let ctx = k.path("ctx");
    for name in ["a", "b", "c"] {
        build(&d, &ctx, &big(name), Some(name));
        // Last use is kept in seconds: a is then strictly the least recently used.
        std::thread::sleep(Duration::from_millis(1100));
    }
    let mounts = "FROM busybox\nRUN --mount=type=cache,target=/c head -c 2000000 /dev/urandom > /c/blob && echo d > /d\n";
    build(&d, &ctx, mounts, None);
    let dangling = d.ok(&["images", "-q", "--filter", "dangling=true"]);
    assert!(
        !dangling.trim().is_empty(),
        "the untagged build is dangling"
    );
    // Cache mounts beyond 1 MB go; the dangling image goes after its second.
    wait_for("the cache mount to be pruned", &d, || {
        bytes_under(&k.root.join("cache-mounts")) < 1_000_000
    });
    wait_for("the dangling image to be removed", &d, || {
        d.ok(&["images", "-q", "--filter", "dangling=true"])
            .trim()
            .is_empty()
    });
    // Images a, b and c keep their steps' cache: all 9 MB of it stays over the 5 MB limit.
    let du = || d.ok(&["du", "--format", "json"]);
    let runs = d.metric("kiln_gc_runs_total");
    wait_for("two GC runs", &d, || {
        d.metric("kiln_gc_runs_total") >= runs + 2.0
    });
    for name in ["echo a", "echo b", "echo c"] {
        assert!(du().contains(name), "{name} was pruned:\n{}", du());
    }
    // Without their images, a and b are 6 MB of build cache: the older one goes.
    d.ok(&["rmi", "a", "b"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while du().contains("echo a") {
        assert!(
            Instant::now() < deadline,
            "the oldest cache was not pruned:\n{}\n{}",
            du(),
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let runs = d.metric("kiln_gc_runs_total");
    wait_for("two more GC runs", &d, || {
        d.metric("kiln_gc_runs_total") >= runs + 2.0
    });
    let left = du();
    assert!(left.contains("echo b") && left.contains("echo c"), "{left}");
    // The kept cache is hit, the pruned one runs again.
    assert!(build(&d, &ctx, &big("b"), Some("b")).is_empty());
    assert!(build(&d, &ctx, &big("c"), Some("c")).is_empty());
    assert_eq!(
        build(&d, &ctx, &big("a"), Some("a")),
        vec!["RUN head -c 3000000 /dev/urandom > /big && echo a"]
    );
}
