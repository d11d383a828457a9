//! Remote build caches (issue 7): a build on root A exports its cache, a build on an empty
//! root B imports it and runs no step (every step CACHED, read from `--progress rawjson`)
//! and produces the same image digest. Registry (mode=max), local directory (mode=min),
//! inline, and `RUN --mount=type=cache` contents with `cache-mounts=true`.

mod build_registry_support;
mod build_support;

use std::path::{Path, PathBuf};

use build_registry_support::Registry;
use build_support::{events, ran, Kiln};

/// Pins `created`, so two roots that reuse the same layers write the same image.
const EPOCH: &str = "1700000000";

fn empty_root() -> Kiln {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    Kiln { tmp, root }
}

/// `kiln build --progress rawjson` with SOURCE_DATE_EPOCH; returns (events, image digest).
fn build(k: &Kiln, args: &[&str]) -> (Vec<serde_json::Value>, String) {
    let meta = k.path(&format!("meta-{}.json", std::process::id()));
    let meta_s = meta.to_str().unwrap().to_string();
    let mut all = vec!["build", "--progress", "rawjson", "--metadata-file", &meta_s];
    all.extend_from_slice(args);
    let out = k
        .cmd(&all)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kiln {all:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    let digest = m["containerimage.digest"].as_str().unwrap().to_string();
    (events(&out.stderr), digest)
}

fn cached_names(ev: &[serde_json::Value]) -> Vec<String> {
    ev.iter()
        .filter(|e| e["type"] == "cached")
        .filter_map(|e| e["name"].as_str().map(str::to_string))
        .collect()
}

/// A two-stage context: the final stage copies from the first, so `mode=min` exports only
/// the final stage's steps and still rebuilds without running anything.
fn context(dir: &Path, base: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("app.txt"), "app\n").unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        format!(
            "FROM {base} AS build\n\
             RUN echo built > /built.txt && date +%s%N > /nonce\n\
             FROM {base}\n\
             COPY app.txt /app/\n\
             COPY --from=build /built.txt /nonce /out/\n\
             RUN cat /out/built.txt /app/app.txt > /final.txt && date +%s%N >> /final.txt\n"
        ),
    )
    .unwrap();
    dir.to_path_buf()
}

const STEPS: [&str; 4] = [
    "RUN echo built > /built.txt && date +%s%N > /nonce",
    "COPY app.txt /app/",
    "COPY --from=build /built.txt /nonce /out/",
    "RUN cat /out/built.txt /app/app.txt > /final.txt && date +%s%N >> /final.txt",
];

fn assert_all_cached(ev: &[serde_json::Value]) {
    assert!(ran(ev).is_empty(), "steps ran: {:?}", ran(ev));
    let cached = cached_names(ev);
    let last = STEPS[3];
    assert!(
        cached.iter().any(|n| n.ends_with(last)),
        "the final RUN was not reported CACHED: {cached:?}"
    );
}

#[test]
fn registry_cache_rebuilds_on_an_empty_root_without_running_steps() {
    let reg = Registry::start();
    let a = Kiln::with_busybox();
    let base = reg.name("base/busybox:1");
    a.ok(&["tag", "busybox:latest", &base]);
    a.ok(&["push", &base]);
    let ctx = context(&a.path("ctx"), &base);
    let cache = reg.name("cache/app:buildcache");
    let to = format!("type=registry,ref={cache},mode=max");
    let (ev, digest_a) = build(
        &a,
        &["-t", "app:1", "--cache-to", &to, ctx.to_str().unwrap()],
    );
    assert_eq!(ran(&ev).len(), STEPS.len(), "{:?}", ran(&ev));
    let manifest = build_registry_support::remote_manifest(&cache).expect("cache manifest");
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.buildkit.cacheconfig.v0"
    );

    // Root B has nothing: the base image is pulled, every step comes from the cache.
    let b = empty_root();
    let from = format!("type=registry,ref={cache}");
    let ctx_b = context(&b.path("ctx"), &base);
    let (ev, digest_b) = build(
        &b,
        &[
            "-t",
            "app:1",
            "--cache-from",
            &from,
            ctx_b.to_str().unwrap(),
        ],
    );
    assert_all_cached(&ev);
    assert_eq!(
        digest_a, digest_b,
        "same layers and config must give the same image"
    );
    assert_eq!(
        a.sh("app:1", "cat /final.txt"),
        b.sh("app:1", "cat /final.txt"),
        "the imported layers are the ones A built"
    );

    // Re-exporting what was imported (CI: --cache-from R --cache-to R2) keeps every record
    // of mode=max, and blobs the registry already holds are not downloaded for it.
    let again = reg.name("cache/app:again");
    let to_again = format!("type=registry,ref={again},mode=max");
    let (ev, _) = build(
        &b,
        &[
            "--cache-from",
            &from,
            "--cache-to",
            &to_again,
            ctx_b.to_str().unwrap(),
        ],
    );
    assert!(ran(&ev).is_empty());
    let first = build_registry_support::remote_manifest(&cache).unwrap();
    let second = build_registry_support::remote_manifest(&again).unwrap();
    assert_eq!(
        first["layers"], second["layers"],
        "records were lost on re-export"
    );
    let fetched = first["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| {
            let hex = &l["digest"].as_str().unwrap()[7..];
            b.root.join("blobs/sha256").join(hex).exists()
        })
        .count();
    assert!(
        fetched < first["layers"].as_array().unwrap().len(),
        "the first stage's layer was downloaded although no step needed it"
    );

    // mode=max carried the first stage too: a build of only that stage is cached as well.
    let c = empty_root();
    let ctx_c = context(&c.path("ctx"), &base);
    let (ev, _) = build(
        &c,
        &[
            "--target",
            "build",
            "--cache-from",
            &from,
            ctx_c.to_str().unwrap(),
        ],
    );
    assert!(ran(&ev).is_empty(), "first stage ran: {:?}", ran(&ev));

    // A cache that does not exist yet is not an error (the first CI run has none).
    let d = empty_root();
    let ctx_d = context(&d.path("ctx"), &base);
    let missing = format!("type=registry,ref={}", reg.name("cache/none:x"));
    let (ev, _) = build(&d, &["--cache-from", &missing, ctx_d.to_str().unwrap()]);
    assert_eq!(ran(&ev).len(), STEPS.len());
}

#[test]
fn local_cache_dir_round_trips_in_mode_min() {
    let a = Kiln::with_busybox();
    let ctx = context(&a.path("ctx"), "busybox");
    let dir = a.path("cache-dir");
    let to = format!("type=local,dest={}", dir.display());
    let (_, digest_a) = build(
        &a,
        &["-t", "app:1", "--cache-to", &to, ctx.to_str().unwrap()],
    );
    // An OCI layout with BuildKit's cache config as the manifest's config.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let manifest_digest = index["manifests"][0]["digest"].as_str().unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("blobs/sha256").join(&manifest_digest[7..])).unwrap(),
    )
    .unwrap();
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.buildkit.cacheconfig.v0"
    );
    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    let config: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("blobs/sha256").join(&config_digest[7..])).unwrap(),
    )
    .unwrap();
    // mode=min: the final stage's three steps, not the first stage's RUN.
    assert_eq!(config["records"].as_array().unwrap().len(), 3, "{config}");

    let b = Kiln::with_busybox();
    let ctx_b = context(&b.path("ctx"), "busybox");
    let from = format!("type=local,src={}", dir.display());
    let (ev, digest_b) = build(
        &b,
        &[
            "-t",
            "app:1",
            "--cache-from",
            &from,
            ctx_b.to_str().unwrap(),
        ],
    );
    assert_all_cached(&ev);
    assert_eq!(digest_a, digest_b);

    // A changed context file misses from its COPY on; the COPY --from after it then needs
    // the first stage, which mode=min did not export, so that runs too.
    std::fs::write(ctx_b.join("app.txt"), "app v2\n").unwrap();
    let (ev, _) = build(
        &b,
        &[
            "-t",
            "app:2",
            "--cache-from",
            &from,
            ctx_b.to_str().unwrap(),
        ],
    );
    let mut want: Vec<String> = STEPS.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(ran(&ev), want);
    assert!(b
        .sh("app:2", "cat /final.txt")
        .starts_with("built\napp v2\n"));
}

#[test]
fn inline_cache_travels_inside_the_pushed_image() {
    let reg = Registry::start();
    let a = Kiln::with_busybox();
    let ctx = context(&a.path("ctx"), "busybox");
    let image = reg.name("team/app:inline");
    let (_, digest_a) = build(
        &a,
        &[
            "-t",
            &image,
            "--push",
            "--cache-to",
            "type=inline",
            ctx.to_str().unwrap(),
        ],
    );
    assert_eq!(
        build_registry_support::remote_digest(&image).as_deref(),
        Some(digest_a.as_str())
    );
    let config = std::process::Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--config", "--raw"])
        .arg(format!("docker://{image}"))
        .output()
        .unwrap();
    let config: serde_json::Value = serde_json::from_slice(&config.stdout).unwrap();
    assert!(
        config["moby.buildkit.cache.v0"].is_string(),
        "no inline cache in the pushed config: {config}"
    );

    let b = Kiln::with_busybox();
    let ctx_b = context(&b.path("ctx"), "busybox");
    let (ev, digest_b) = build(
        &b,
        &[
            "-t",
            "app:1",
            "--cache-from",
            &image,
            "--cache-to",
            "type=inline",
            ctx_b.to_str().unwrap(),
        ],
    );
    assert_all_cached(&ev);
    assert_eq!(digest_a, digest_b);
}

#[test]
fn cache_mount_contents_travel_when_asked() {
    let a = Kiln::with_busybox();
    let ctx = a.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN --mount=type=cache,id=deps,target=/c sh -c 'echo fetched > /c/dep.txt'\n",
    )
    .unwrap();
    let dir = a.path("cache-dir");
    let to = format!("type=local,dest={},cache-mounts=true", dir.display());
    build(&a, &["--cache-to", &to, ctx.to_str().unwrap()]);

    let b = Kiln::with_busybox();
    let ctx_b = b.path("ctx");
    std::fs::create_dir_all(&ctx_b).unwrap();
    std::fs::write(
        ctx_b.join("Dockerfile"),
        "FROM busybox\nRUN --mount=type=cache,id=deps,target=/c cat /c/dep.txt > /seen.txt\n",
    )
    .unwrap();
    // Without the flag the mount starts empty and the step fails.
    let c = Kiln::with_busybox();
    let plain = c
        .cmd(&[
            "build",
            "--cache-from",
            &format!("type=local,src={}", dir.display()),
            ctx_b.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        !plain.status.success(),
        "cache mount contents arrived without cache-mounts=true"
    );
    let from = format!("type=local,src={},cache-mounts=true", dir.display());
    build(
        &b,
        &["-t", "seen", "--cache-from", &from, ctx_b.to_str().unwrap()],
    );
    assert_eq!(b.sh("seen", "cat /seen.txt"), "fetched\n");
}

#[test]
fn a_corrupt_cache_costs_a_rebuild_not_the_build() {
    let a = Kiln::with_busybox();
    let ctx = context(&a.path("ctx"), "busybox");
    let dir = a.path("cache-dir");
    let to = format!("type=local,dest={}", dir.display());
    build(&a, &["--cache-to", &to, ctx.to_str().unwrap()]);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let manifest_hex = &index["manifests"][0]["digest"].as_str().unwrap()[7..];
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("blobs/sha256").join(manifest_hex)).unwrap(),
    )
    .unwrap();
    let mut corrupted = Vec::new();
    for l in manifest["layers"].as_array().unwrap() {
        let hex = l["digest"].as_str().unwrap()[7..].to_string();
        let path = dir.join("blobs/sha256").join(&hex);
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"not the layer").unwrap();
        corrupted.push(hex);
    }

    let b = Kiln::with_busybox();
    let ctx_b = context(&b.path("ctx"), "busybox");
    let from = format!("type=local,src={}", dir.display());
    let (ev, _) = build(&b, &["--cache-from", &from, ctx_b.to_str().unwrap()]);
    let mut want: Vec<String> = STEPS.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(
        ran(&ev),
        want,
        "the steps run when the cache's layers are bad"
    );
    // Rebuilt layers may legitimately have the same digest (a reproducible COPY); what
    // must never be stored is the corrupt content under that name.
    for hex in corrupted {
        let path = b.root.join("blobs/sha256").join(&hex);
        if let Ok(bytes) = std::fs::read(&path) {
            assert_ne!(
                bytes, b"not the layer",
                "a blob that failed verification was stored"
            );
        }
    }
}
