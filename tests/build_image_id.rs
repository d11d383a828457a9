//! A fully cached rebuild writes the same image (BuildKit's behaviour): each new history
//! entry is dated when its step ran, not when the build did, so the config digest (the
//! image id) and `Created` stay; an edit re-dates only the steps that ran again, and
//! `--no-cache` all of them. Times travel with an exported cache, so an importing store
//! writes the exporter's image. The "full step logs" line only appears when a step ran.
//!
//! Times are whole seconds: each rebuild waits just over one, so a build that took the
//! clock's time instead of the steps' would write another config.

mod build_support;
mod daemon_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use build_support::{assert_history_matches_layers, Kiln};
use daemon_support::Daemon;

/// Longer than the one-second resolution of image times.
const TICK: Duration = Duration::from_millis(1100);

const DOCKERFILE: &str = "FROM busybox\n\
    ENV STAGE=one\n\
    COPY a.txt /a.txt\n\
    RUN echo built > /built.txt\n\
    COPY b.txt /b.txt\n\
    CMD [\"cat\", \"/b.txt\"]\n";

/// Positions in the image history of [`DOCKERFILE`] (busybox has one entry).
const BASE: usize = 0;
const ENV: usize = 1;
const COPY_A: usize = 2;
const RUN: usize = 3;
const COPY_B: usize = 4;
const CMD: usize = 5;

fn context(k: &Kiln, dockerfile: &str) -> PathBuf {
    let dir = k.path("ctx");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    std::fs::write(dir.join("a.txt"), "a\n").unwrap();
    std::fs::write(dir.join("b.txt"), "b1\n").unwrap();
    dir
}

/// `kiln build --progress plain ARGS… CTX`, required to succeed; returns stderr.
fn build(k: &Kiln, ctx: &Path, args: &[&str]) -> String {
    let mut all = vec!["build", "--progress", "plain"];
    all.extend_from_slice(args);
    all.push(ctx.to_str().unwrap());
    let out = k
        .cmd(&all)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "kiln {all:?} failed:\n{stderr}");
    stderr
}

/// What identifies and dates an image: id, `Created`, and the history's `created` times.
#[derive(Debug, PartialEq)]
struct Dated {
    id: String,
    created: String,
    history: Vec<String>,
}

fn dated(k: &Kiln, image: &str) -> Dated {
    let img = k.inspect(image);
    assert_history_matches_layers(&img);
    let history = img["History"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["created"].as_str().unwrap().to_string())
        .collect();
    let d = Dated {
        id: img["Id"].as_str().unwrap().to_string(),
        created: img["Created"].as_str().unwrap().to_string(),
        history,
    };
    // `kiln images` reads the same: the id and the creation time.
    let listed = k.ok(&["images", "--no-trunc", "-q", image]);
    assert_eq!(listed.trim(), d.id, "kiln images -q {image}");
    let at = k.ok(&["images", "--format", "{{.CreatedAt}}", image]);
    assert_eq!(at.trim(), d.created, "kiln images CreatedAt of {image}");
    d
}

/// RFC 3339 times in one format compare as text in time order.
fn newest(history: &[String]) -> String {
    history.iter().max().cloned().unwrap_or_default()
}

#[test]
fn a_fully_cached_rebuild_writes_the_same_image() {
    let k = Kiln::with_busybox();
    let ctx = context(&k, DOCKERFILE);
    let first = build(&k, &ctx, &["-t", "app"]);
    assert!(first.contains("full step logs: "), "steps ran:\n{first}");
    let before = dated(&k, "app");
    let h = &before.history;
    assert_eq!(h.len(), 6, "{before:?}");
    assert_eq!(h[BASE], "2024-01-01T00:00:00Z", "the base keeps its time");
    // ENV comes before the first new layer and takes its time, not the base's.
    assert_eq!(h[ENV], h[COPY_A], "{before:?}");
    assert_eq!(h[CMD], h[COPY_B], "a metadata entry has its layer's time");
    assert_eq!(before.created, newest(h));

    std::thread::sleep(TICK);
    let again = build(&k, &ctx, &["-t", "app"]);
    assert!(
        !again.contains("full step logs"),
        "no step ran, so there is no step log to name:\n{again}"
    );
    assert_eq!(
        dated(&k, "app"),
        before,
        "a cached rebuild is the same image"
    );

    // --squash: the squashed layer is as old as its newest step, also when rebuilt.
    build(&k, &ctx, &["--squash", "-t", "app:squashed"]);
    let squashed = dated(&k, "app:squashed");
    assert_eq!(squashed.created, before.created);
    std::thread::sleep(TICK);
    build(&k, &ctx, &["--squash", "-t", "app:squashed"]);
    assert_eq!(dated(&k, "app:squashed"), squashed);
}

#[test]
fn an_edit_redates_only_the_steps_that_ran_again() {
    let k = Kiln::with_busybox();
    let ctx = context(&k, DOCKERFILE);
    build(&k, &ctx, &["-t", "app"]);
    let v1 = dated(&k, "app");

    std::thread::sleep(TICK);
    std::fs::write(ctx.join("b.txt"), "b2\n").unwrap();
    build(&k, &ctx, &["-t", "app"]);
    let v2 = dated(&k, "app");
    assert_ne!(v2.id, v1.id, "another layer, another image");
    assert_eq!(
        v2.history[..COPY_B],
        v1.history[..COPY_B],
        "the untouched entries keep their times"
    );
    assert!(v2.history[COPY_B] > v1.history[COPY_B], "{v1:?}\n{v2:?}");
    assert_eq!(v2.history[CMD], v2.history[COPY_B]);
    assert_eq!(v2.created, v2.history[COPY_B]);

    // --no-cache runs every step again: every new entry is newer, the base's is not.
    std::thread::sleep(TICK);
    build(&k, &ctx, &["--no-cache", "-t", "app"]);
    let v3 = dated(&k, "app");
    assert_ne!(v3.id, v2.id);
    assert_eq!(v3.history[BASE], v2.history[BASE]);
    for i in [ENV, COPY_A, RUN, COPY_B, CMD] {
        assert!(v3.history[i] > v2.history[i], "entry {i}: {v2:?}\n{v3:?}");
    }
    assert!(v3.created > v2.created);
}

#[test]
fn metadata_only_on_a_base_keeps_the_base_time() {
    let k = Kiln::with_busybox();
    let ctx = context(&k, "FROM busybox\nENV A=1\nLABEL purpose=test\n");
    let first = build(&k, &ctx, &["-t", "meta"]);
    assert!(!first.contains("full step logs"), "no step ran:\n{first}");
    let before = dated(&k, "meta");
    // Nothing new has a time of its own: the base's newest entry dates everything.
    assert_eq!(before.created, "2024-01-01T00:00:00Z");
    assert!(before.history.iter().all(|t| t == "2024-01-01T00:00:00Z"));
    std::thread::sleep(TICK);
    build(&k, &ctx, &["-t", "meta"]);
    assert_eq!(dated(&k, "meta"), before);
}

#[test]
fn an_imported_cache_keeps_the_exporters_times() {
    let a = Kiln::with_busybox();
    let ctx_a = context(&a, DOCKERFILE);
    let dir = a.path("cache");
    let to = format!("type=local,dest={},mode=max", dir.display());
    build(&a, &ctx_a, &["-t", "app", "--cache-to", &to]);
    let exported = dated(&a, "app");

    std::thread::sleep(TICK);
    let b = Kiln::with_busybox();
    let ctx_b = context(&b, DOCKERFILE);
    let from = format!("type=local,src={}", dir.display());
    let out = build(&b, &ctx_b, &["-t", "app", "--cache-from", &from]);
    assert!(
        out.contains("0 steps ran"),
        "every step is a cache hit:\n{out}"
    );
    assert_eq!(
        dated(&b, "app"),
        exported,
        "another store, the same steps: the same image"
    );
}

#[test]
fn a_cached_rebuild_through_the_daemon_is_the_same_image() {
    let k = Kiln::with_busybox();
    let ctx = context(&k, DOCKERFILE);
    let d = Daemon::start(&k.root, k.tmp.path(), &[]);
    let c = ctx.to_str().unwrap();
    let build = || {
        let out = d.run(&["build", "--progress", "plain", "-t", "app", c]);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "{stderr}\ndaemon log:\n{}",
            d.log_text()
        );
        stderr
    };
    let identity = || d.ok(&["inspect", "--format", "{{.Id}} {{.Created}}", "app"]);
    assert!(build().contains("full step logs: "), "steps ran");
    let first = identity();
    std::thread::sleep(TICK);
    let again = build();
    assert!(!again.contains("full step logs"), "no step ran:\n{again}");
    assert_eq!(identity(), first);
}
