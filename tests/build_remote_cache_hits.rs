//! Remote cache follow-ups (issue 7): exporting to a registry mounts blobs another
//! repository of the registry holds (here the pulled base image's layer) instead of
//! uploading them; a cache hit that downloads layers says so on its step; and steps that
//! change nothing or only metadata come from the cache like the others, so a fresh root
//! runs no step at all.

mod build_registry_support;
mod build_support;

use build_registry_support::{remote_manifest, Registry};
use build_support::{events, ran, Kiln};

fn empty_root() -> Kiln {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    Kiln { tmp, root }
}

fn build(k: &Kiln, progress: &str, args: &[&str]) -> String {
    let mut all = vec!["build", "--progress", progress];
    all.extend_from_slice(args);
    let out = k
        .cmd(&all)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "kiln {all:?} failed ({}):\n{stderr}",
        out.status
    );
    stderr
}

/// `N` in the export summary's `…, N <what>, …`.
fn blob_count(stderr: &str, what: &str) -> usize {
    let line = stderr
        .lines()
        .find(|l| l.contains("exporting cache to") && l.contains("blobs:"))
        .unwrap_or_else(|| panic!("no export summary:\n{stderr}"));
    line.split([',', '('])
        .map(str::trim)
        .find_map(|part| {
            let part = part.strip_prefix("blobs: ").unwrap_or(part);
            part.strip_suffix(&format!(" {what}"))?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no {what} count in {line:?}"))
}

#[test]
fn export_mounts_known_blobs_and_hits_report_their_downloads() {
    let reg = Registry::start();
    let a = Kiln::with_busybox();
    let base = reg.name("base/busybox:1");
    a.ok(&["tag", "busybox:latest", &base]);
    a.ok(&["push", &base]);
    let base_layers = remote_manifest(&base).expect("base")["layers"]
        .as_array()
        .unwrap()
        .len();

    let ctx = a.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    // A no-op RUN and metadata-only instructions among the steps: all must be cached.
    let dockerfile = format!(
        "FROM {base}\n\
         RUN head -c 3000000 /dev/urandom > /big && date +%s%N > /nonce\n\
         RUN true\n\
         ENV MODE=test\n\
         LABEL team=kiln\n\
         WORKDIR /app\n\
         RUN cat /nonce > /app/seen\n"
    );
    std::fs::write(ctx.join("Dockerfile"), &dockerfile).unwrap();
    let cache = reg.name("cache/app:main");
    let to = format!("type=registry,ref={cache},mode=max");
    let stderr = build(
        &a,
        "plain",
        &["-t", "app", "--cache-to", &to, ctx.to_str().unwrap()],
    );
    // The base's layers are in base/busybox on the same registry: linked, not sent.
    assert_eq!(blob_count(&stderr, "mounted"), base_layers, "{stderr}");
    assert!(blob_count(&stderr, "uploaded") >= 1, "{stderr}");

    // Exporting to a second repository mounts everything the first one has.
    let copy = reg.name("cache/copy:main");
    let from = format!("type=registry,ref={cache}");
    let to_copy = format!("type=registry,ref={copy},mode=max");
    let stderr = build(
        &a,
        "plain",
        &[
            "--cache-from",
            &from,
            "--cache-to",
            &to_copy,
            ctx.to_str().unwrap(),
        ],
    );
    assert_eq!(
        blob_count(&stderr, "uploaded"),
        1,
        "only the cache config is new: {stderr}"
    );

    // A fresh root: every step (the no-op and metadata ones included) is a cache hit, and
    // the hit that downloads the layers reports it on its step.
    let b = empty_root();
    let ctx_b = b.path("ctx");
    std::fs::create_dir_all(&ctx_b).unwrap();
    std::fs::write(ctx_b.join("Dockerfile"), &dockerfile).unwrap();
    let stderr = build(
        &b,
        "rawjson",
        &["-t", "app", "--cache-from", &from, ctx_b.to_str().unwrap()],
    );
    let ev = events(stderr.as_bytes());
    assert!(ran(&ev).is_empty(), "steps ran: {:?}", ran(&ev));
    let cached: Vec<&str> = ev
        .iter()
        .filter(|e| e["type"] == "cached")
        .filter_map(|e| e["vertex"].as_str())
        .collect();
    let logs: Vec<(&str, &str)> = ev
        .iter()
        .filter(|e| e["type"] == "log")
        .filter_map(|e| Some((e["vertex"].as_str()?, e["data"].as_str()?)))
        .collect();
    let opening = logs
        .iter()
        .find(|(_, d)| d.starts_with(&format!("importing cache from {cache}")))
        .unwrap_or_else(|| panic!("no download line on the hit: {logs:?}"));
    assert!(
        cached.contains(&opening.0),
        "the lines belong to a cached step"
    );
    assert!(
        logs.iter()
            .any(|(v, d)| *v == opening.0 && d.trim_end().ends_with(" done")),
        "no finished layer line: {logs:?}"
    );
    assert_eq!(b.sh("app", "cat /app/seen"), a.sh("app", "cat /app/seen"));
}
