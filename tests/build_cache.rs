//! The cache matrix (testdata/build/cache): after each kind of change, exactly which steps
//! re-ran, read from `--progress rawjson` events; plus --no-cache and --no-cache-filter.

mod build_support;

use std::path::Path;
use std::process::Command;

use build_support::{ran, testdata, Kiln};

const MODE: &str = "RUN echo \"mode $MODE\" > /mode.txt";
const COPY_APP: &str = "COPY app.txt /app/";
const USED: &str = "RUN echo \"used $USED\" > /used.txt";
const COPY_SRC: &str = "COPY src /app/src";
const CAT: &str = "RUN cat /app/app.txt /app/src/main.c > /combined.txt";

fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

fn build(k: &Kiln, dir: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["-t", "matrix"];
    args.extend_from_slice(extra);
    let d = dir.to_str().unwrap().to_string();
    args.push(&d);
    ran(&k.build(&args))
}

#[test]
fn cache_matrix_reruns_exactly_the_affected_steps() {
    let k = Kiln::with_busybox();
    let dir = k.copy_context("build/cache");
    assert_eq!(
        build(&k, &dir, &[]),
        sorted(&[MODE, COPY_APP, USED, COPY_SRC, CAT])
    );
    assert!(
        build(&k, &dir, &[]).is_empty(),
        "no-op rebuild must be fully cached"
    );

    // A selected file's content: its COPY and everything after it.
    std::fs::write(dir.join("app.txt"), "app v2\n").unwrap();
    assert_eq!(
        build(&k, &dir, &[]),
        sorted(&[COPY_APP, USED, COPY_SRC, CAT])
    );
    assert_eq!(k.sh("matrix", "cat /combined.txt"), "app v2\nprint\n");

    // A file no step selects, an ignored file, and only an mtime: nothing.
    std::fs::write(dir.join("other.txt"), "other v2\n").unwrap();
    assert!(build(&k, &dir, &[]).is_empty());
    std::fs::write(dir.join("ignored.log"), "ignored v2\n").unwrap();
    assert!(build(&k, &dir, &[]).is_empty());
    let st = Command::new("touch")
        .args(["-d", "2001-02-03 04:05:06"])
        .arg(dir.join("app.txt"))
        .arg(dir.join("src/main.c"))
        .status()
        .unwrap();
    assert!(st.success());
    assert!(
        build(&k, &dir, &[]).is_empty(),
        "an mtime-only change must not miss"
    );

    // A file under a copied directory: only from that COPY on.
    std::fs::write(dir.join("src/main.c"), "print 2\n").unwrap();
    assert_eq!(build(&k, &dir, &[]), sorted(&[COPY_SRC, CAT]));

    // An ARG the stage uses: from the first RUN that sees it; one it does not: nothing.
    assert_eq!(
        build(&k, &dir, &["--build-arg", "USED=2"]),
        sorted(&[USED, COPY_SRC, CAT])
    );
    assert!(build(
        &k,
        &dir,
        &["--build-arg", "USED=2", "--build-arg", "UNUSED=2"]
    )
    .is_empty());
    assert_eq!(k.sh("matrix", "cat /used.txt"), "used 2\n");

    // An ENV value: every step after it.
    let df = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
    std::fs::write(dir.join("Dockerfile"), df.replace("MODE=one", "MODE=two")).unwrap();
    assert_eq!(
        build(&k, &dir, &["--build-arg", "USED=2"]),
        sorted(&[MODE, COPY_APP, USED, COPY_SRC, CAT])
    );

    // Another base image under the same name: everything.
    let other_base = k.path("busybox2.tar");
    let st = Command::new(testdata("busybox-image.sh"))
        .arg(&other_base)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .status()
        .unwrap();
    assert!(st.success());
    k.ok(&["load", "-i", other_base.to_str().unwrap()]);
    assert_eq!(
        build(&k, &dir, &["--build-arg", "USED=2"]),
        sorted(&[MODE, COPY_APP, USED, COPY_SRC, CAT])
    );
}

#[test]
fn no_cache_and_no_cache_filter() {
    let k = Kiln::with_busybox();
    let stages = testdata("build/stages");
    let d = stages.to_str().unwrap();
    let first = ran(&k.build(&["-t", "s", d]));
    assert_eq!(first.len(), 4, "{first:?}");
    assert!(ran(&k.build(&["-t", "s", d])).is_empty());
    // --no-cache also re-reads the base image (one more step), as BuildKit re-resolves it.
    let mut all = first.clone();
    all.push("FROM docker.io/library/busybox:latest".to_string());
    all.sort();
    assert_eq!(ran(&k.build(&["--no-cache", "-t", "s", d])), all);
    // Only the builder stage's own step runs; its consumers' keys did not change because
    // the rebuilt step produced the same key (same inputs), so they stay cached.
    let filtered = ran(&k.build(&["--no-cache-filter", "builder", "-t", "s", d]));
    assert_eq!(filtered, vec!["RUN echo built > /artifact.txt".to_string()]);
}

#[test]
fn proxy_args_reach_run_but_not_cache_keys_and_keys_are_recorded() {
    let k = Kiln::with_busybox();
    let dir = k.path("proxy");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM busybox\nRUN echo \"proxy=$http_proxy\" > /proxy.txt\n",
    )
    .unwrap();
    let d = dir.to_str().unwrap();
    let meta = k.path("meta.json");
    let first = ran(&k.build(&[
        "-t",
        "proxy",
        "--build-arg",
        "http_proxy=http://proxy-a:3128",
        "--metadata-file",
        meta.to_str().unwrap(),
        d,
    ]));
    assert_eq!(first.len(), 1);
    assert_eq!(
        k.sh("proxy", "cat /proxy.txt"),
        "proxy=http://proxy-a:3128\n"
    );
    // Proxy settings never reach a cache key (nor the image's config).
    let again = ran(&k.build(&[
        "-t",
        "proxy",
        "--build-arg",
        "http_proxy=http://proxy-b:1",
        d,
    ]));
    assert!(again.is_empty(), "{again:?}");
    let env = k.inspect("proxy")["Config"]["Env"].to_string();
    assert!(!env.contains("proxy-a"), "{env}");

    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    let config = m["containerimage.config.digest"].as_str().unwrap();
    assert!(config.starts_with("sha256:"));
    assert!(m["containerimage.digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert_eq!(m["image.name"], "docker.io/library/proxy:latest");
    // What each step's key was computed from is kept for explaining misses later.
    let recorded = std::fs::read_dir(k.root.join("build-state/keys"))
        .unwrap()
        .count();
    assert!(recorded >= 2, "{recorded}");
}

#[test]
fn builds_survive_garbage_collection_of_their_cache() {
    let k = Kiln::with_busybox();
    let example = testdata("example");
    let d = example.to_str().unwrap();
    k.build(&["-t", "example", d]);
    // Collect garbage while the image exists: intermediate states (the build stage) may
    // go; the image must stay whole, and a rebuild must work, re-running what was lost.
    k.ok(&["system", "prune", "-f"]);
    assert_eq!(k.ok(&["run", "--rm", "example"]), "hello from kiln\n");
    k.build(&["-t", "example", d]);
    assert_eq!(k.ok(&["run", "--rm", "example"]), "hello from kiln\n");
    k.ok(&["prune", "-a", "-f"]);
    let all = ran(&k.build(&["--no-cache-filter", "nothing", "-t", "example", d]));
    assert!(
        all.len() >= 3,
        "after pruning all cache the steps run again: {all:?}"
    );
    assert_eq!(k.ok(&["run", "--rm", "example"]), "hello from kiln\n");
}
