//! Snapshots: unpacked once per chain id, stacked as overlay lowerdirs (flattened when the
//! chain is too deep for one mount), reference counted, and kept or collected by GC.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use kiln_cache::{ImageRecord, Store};

/// An image named `name` of `n` layers made under `base`: layer i adds file i and rewrites
/// `shared`, so the top copy of `shared` must win.
fn layered_image(store: &Store, base: &Path, n: usize, name: &str) -> ImageRecord {
    let dirs: Vec<PathBuf> = (0..n)
        .map(|i| {
            let d = base.join(format!("layer{i}"));
            fs::create_dir_all(d.join("files")).unwrap();
            fs::write(d.join(format!("files/f{i}")), format!("file {i}")).unwrap();
            fs::write(d.join("shared"), format!("from layer {i}")).unwrap();
            d
        })
        .collect();
    let refs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    common::make_image(store, &refs, Some(name))
}

/// Expected merged tree: every layer's file, and `shared` from the top layer.
fn expected(n: usize) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = (0..n)
        .map(|i| (format!("files/f{i}"), format!("file {i}")))
        .collect();
    v.push(("shared".into(), format!("from layer {}", n - 1)));
    v.sort();
    v
}

fn read_all(root: &Path) -> Vec<(String, String)> {
    let mut v = Vec::new();
    for e in fs::read_dir(root.join("files")).unwrap() {
        let p = e.unwrap().path();
        v.push((
            format!("files/{}", p.file_name().unwrap().to_string_lossy()),
            fs::read_to_string(&p).unwrap(),
        ));
    }
    v.push((
        "shared".into(),
        fs::read_to_string(root.join("shared")).unwrap(),
    ));
    v.sort();
    v
}

#[test]
fn lowerdirs_stack_into_the_image_filesystem() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("root")).unwrap();
    let img = layered_image(&store, tmp.path(), 3, "stack:1");
    let lower = store.image_lowerdirs(&img).unwrap();
    assert_eq!(lower.len(), 3);
    // Top first: the last layer's snapshot is the first lowerdir.
    assert_eq!(
        fs::read_to_string(lower[0].join("shared")).unwrap(),
        "from layer 2"
    );
    let m = tmp.path().join("merged");
    fs::create_dir(&m).unwrap();
    let _g = common::mount_overlay_ro(&lower, &m);
    assert_eq!(read_all(&m), expected(3));
    // Asking again reuses the snapshots.
    assert_eq!(store.image_lowerdirs(&img).unwrap(), lower);
}

#[test]
fn deep_chains_are_flattened_to_fit_one_mount() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("root")).unwrap();
    let img = layered_image(&store, tmp.path(), 9, "deep:1");
    let lower = store.lowerdirs_with_limits(&img, 4, 4096).unwrap();
    assert_eq!(lower.len(), 4, "{lower:?}");
    assert!(lower[3]
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("flat-"));
    let m = tmp.path().join("merged");
    fs::create_dir(&m).unwrap();
    let _g = common::mount_overlay_ro(&lower, &m);
    assert_eq!(read_all(&m), expected(9));
    // The flat snapshot is live for GC while the image exists.
    let report = store.collect_garbage().unwrap();
    assert!(
        report.snapshots_removed.is_empty(),
        "{:?}",
        report.snapshots_removed
    );
    assert!(lower.iter().all(|d| d.is_dir()));
}

#[test]
fn held_snapshots_survive_image_removal_until_released() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("root")).unwrap();
    let img = layered_image(&store, tmp.path(), 2, "held:1");
    let chains = store.prepare_snapshots(&img).unwrap();
    let top = chains[1].to_string();
    store.hold_snapshot(&top, "container:abc").unwrap();
    store.hold_snapshot(&top, "container:def").unwrap();
    assert_eq!(
        store.image_holders(&img).unwrap(),
        vec!["container:abc", "container:def"]
    );
    store.remove_image_with_tags(&img.manifest_digest).unwrap();
    store.collect_garbage().unwrap();
    // Held: the top snapshot and its parent stay; the image's blobs go.
    assert!(store.snapshot_path(&top).join("fs").is_dir());
    assert!(store
        .snapshot_path(&chains[0].to_string())
        .join("fs")
        .is_dir());
    assert!(!store.content().exists(&img.manifest_digest));
    store.release_snapshot(&top, "container:abc").unwrap();
    store.collect_garbage().unwrap();
    assert!(store.snapshot_path(&top).is_dir(), "one holder remains");
    store.release_snapshot(&top, "container:def").unwrap();
    let r = store.collect_garbage().unwrap();
    assert_eq!(r.snapshots_removed.len(), 2);
    assert!(!store.snapshot_path(&top).exists());
    assert!(store.check(false).unwrap().is_healthy());
}

#[test]
fn concurrent_preparation_of_one_image_shares_snapshots() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let store = Store::open(&root).unwrap();
    let img = layered_image(&store, tmp.path(), 3, "race:1");
    let results: Vec<Vec<PathBuf>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let (root, img) = (root.clone(), img.clone());
                // Separate Store handles, as separate kiln processes would have.
                s.spawn(move || Store::open(&root).unwrap().image_lowerdirs(&img).unwrap())
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(results.windows(2).all(|w| w[0] == w[1]));
    let leftovers: Vec<_> = fs::read_dir(store.snapshots_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(store.check(false).unwrap().is_healthy());
}
