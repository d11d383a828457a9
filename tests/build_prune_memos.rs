//! `kiln prune` / `kiln system prune` clean the build's memo files under `build-state/`
//! (here: converted output layers): a memo stays while its blob is in the store, goes
//! once GC took the blob, and a full prune removes them all.

mod build_support;

use std::path::PathBuf;

use build_support::{write, Kiln};

fn memos(k: &Kiln) -> Vec<PathBuf> {
    let dir = k.root.join("build-state/converted-layers");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn prune_removes_memos_whose_blobs_are_gone_and_a_full_prune_all() {
    let k = Kiln::with_busybox();
    let ctx = k.path("ctx");
    write(&ctx, "Dockerfile", "FROM busybox\nRUN echo hi > /f\n");
    let c = ctx.to_str().unwrap();
    let zstd = "type=image,name=zst,compression=zstd";
    k.build(&["--output", zstd, c]);
    let made = memos(&k);
    assert_eq!(made.len(), 1, "one converted layer (the RUN's): {made:?}");

    // The image holds the converted blob: the memo is still good.
    k.ok(&["prune", "-f"]);
    assert_eq!(memos(&k), made, "a prune removed a memo whose blob is kept");

    // Without the image the blob is garbage, and so is the memo.
    k.ok(&["rmi", "zst"]);
    k.ok(&["prune", "-f"]);
    assert!(memos(&k).is_empty(), "stale memos left: {:?}", memos(&k));

    // A full prune removes memos whose blobs are still there too (the image keeps it).
    k.build(&["--output", zstd, c]);
    assert_eq!(memos(&k).len(), 1);
    k.ok(&["prune", "-a", "-f"]);
    assert!(memos(&k).is_empty(), "memos left: {:?}", memos(&k));
    assert!(
        k.ok(&["images", "-q"]).trim().lines().count() >= 2,
        "zst and busybox"
    );

    // `system prune` shares the rule.
    k.build(&["--output", zstd, c]);
    assert_eq!(memos(&k).len(), 1);
    k.ok(&["system", "prune", "-a", "-f"]);
    assert!(memos(&k).is_empty(), "memos left: {:?}", memos(&k));
}
