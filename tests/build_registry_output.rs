//! `--output type=registry,name=R` (buildx's shorthand for an image output that is pushed)
//! and the per-layer lines `kiln build --progress plain` prints while `FROM` pulls a base
//! image the store lacks (issue 7).

mod build_registry_support;
mod build_support;

use build_registry_support::{remote_digest, remote_manifest, Registry};
use build_support::Kiln;

fn empty_root() -> Kiln {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    Kiln { tmp, root }
}

/// `kiln build --progress plain ARGS`, required to succeed; its stderr.
fn build_plain(k: &Kiln, args: &[&str]) -> String {
    let mut all = vec!["build", "--progress", "plain"];
    all.extend_from_slice(args);
    // Info logs say how many blobs a push mounted instead of uploading.
    let out = k
        .cmd(&all)
        .env("KILN_LOG", "info")
        .stdin(std::process::Stdio::null())
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

/// `text` without ANSI colour sequences (the log formatter colours field names).
fn without_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // ESC [ … m
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn registry_output_pushes_and_a_pulled_base_shows_its_layers() {
    let reg = Registry::start();
    let a = Kiln::with_busybox();
    let base = reg.name("base/busybox:1");
    a.ok(&["tag", "busybox:latest", &base]);
    a.ok(&["push", &base]);
    let base_layers: Vec<String> = remote_manifest(&base).expect("base manifest")["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap()[7..19].to_string())
        .collect();
    assert!(!base_layers.is_empty());

    let b = empty_root();
    let ctx = b.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM {base}\nRUN echo out > /out.txt\n"),
    )
    .unwrap();
    let out = reg.name("team/out:1");
    let spec = format!("type=registry,name={out}");
    let stderr = build_plain(&b, &["--output", &spec, ctx.to_str().unwrap()]);

    // A line per layer of the base as it arrives, as `kiln pull` prints them.
    for short in &base_layers {
        assert!(
            stderr.contains(&format!("{short}: Pull complete")),
            "no progress line for base layer {short}:\n{stderr}"
        );
    }
    // type=registry pushed the image (no push=true needed), and says the digest.
    let pushed = stderr
        .lines()
        .find_map(|l| l.strip_prefix(&format!("pushed {out}: digest: ")))
        .unwrap_or_else(|| panic!("no pushed line:\n{stderr}"))
        .trim()
        .to_string();
    assert_eq!(remote_digest(&out).as_deref(), Some(pushed.as_str()));
    // The base's layers were pulled from base/busybox on this registry: mounted from
    // there into team/out, not uploaded again.
    assert!(
        without_colours(&stderr)
            .lines()
            .any(|l| l.contains("pushed blobs")
                && l.contains(&format!("mounted={}", base_layers.len()))),
        "the base layers were not mounted:\n{stderr}"
    );
    // The output's name is also a tag in the store, as type=image,name= would make it.
    assert_eq!(b.sh(&out, "cat /out.txt"), "out\n");

    // push=false keeps it local, as in buildx.
    let local_only = reg.name("team/local:1");
    let spec = format!("type=registry,name={local_only},push=false");
    build_plain(&b, &["--output", &spec, ctx.to_str().unwrap()]);
    assert_eq!(remote_digest(&local_only), None, "push=false pushed anyway");
}
