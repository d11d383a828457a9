//! `kiln pull` writes downloaded blobs without hashing them a second time (the registry
//! client verifies them as they stream): a layer the registry serves corrupted must still
//! be refused, with nothing of it kept in the store, and the intact image pulls after.

mod images_support;
mod registry_support;

use images_support::Kiln;
use registry_support::Registry;

/// Names of the files in `dir` (none when it does not exist).
fn names(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_corrupted_layer_is_refused_and_nothing_is_kept() {
    let reg = Registry::start();
    let a = Kiln::new();
    a.load_busybox();
    let name = reg.name("team/busybox:v1");
    a.ok(&["tag", "busybox:latest", &name]);
    a.ok(&["push", &name]);

    // Same size, one byte flipped: only the digest check can catch it.
    let (layer, path) = reg.largest_blob();
    let good = std::fs::read(&path).unwrap();
    let mut bad = good.clone();
    bad[good.len() / 2] ^= 0xff;
    std::fs::write(&path, &bad).unwrap();

    let b = Kiln::new();
    let out = b.run(&["pull", &name]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(125),
        "pull did not fail as kiln's error (125): {stderr}"
    );
    assert!(
        stderr.contains(&layer) && stderr.contains("digest"),
        "error does not name the layer's digest: {stderr}"
    );
    let hex = layer.trim_start_matches("sha256:");
    let blobs = names(&b.root.join("blobs/sha256"));
    assert!(
        !blobs.iter().any(|f| f == hex),
        "the corrupt layer was stored: {blobs:?}"
    );
    let ingest = names(&b.root.join("blobs/ingest"));
    assert!(
        ingest.is_empty(),
        "temp files left in blobs/ingest: {ingest:?}"
    );
    assert!(
        b.ok(&["images", "-q"]).trim().is_empty(),
        "an image was recorded"
    );

    // Intact again: the same store pulls it, and the stored layer hashes to its name.
    std::fs::write(&path, &good).unwrap();
    b.ok(&["pull", &name]);
    let stored = std::fs::read(b.root.join("blobs/sha256").join(hex)).unwrap();
    assert_eq!(stored, good);
    assert_eq!(
        b.ok(&["run", "--rm", "--network", "none", &name, "echo", "ok"]),
        "ok\n"
    );
}
