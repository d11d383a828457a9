//! GC, pruning, leases and `check`: nothing referenced is removed, everything else is, and
//! corruption is found and repaired.

mod common;

use std::fs;
use std::time::Duration;

use kiln_cache::gc::PruneOptions;
use kiln_cache::{Reference, Store};

fn tree(tmp: &std::path::Path, name: &str, content: &str) -> std::path::PathBuf {
    let d = tmp.join(name);
    fs::create_dir_all(&d).unwrap();
    fs::write(d.join("data"), content).unwrap();
    d
}

#[test]
fn gc_keeps_images_and_leases_and_removes_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("root")).unwrap();
    let img = common::make_image(&store, &[&tree(tmp.path(), "a", "a")], Some("keep:1"));
    let stray = store
        .content()
        .put_bytes(b"nobody references me")
        .unwrap()
        .digest;
    let leased = store
        .content()
        .put_bytes(b"a build is using me")
        .unwrap()
        .digest;
    let lease = store
        .create_lease("build-1", Some(Duration::from_secs(3600)))
        .unwrap();
    store.lease_blob(&lease, &leased).unwrap();
    let report = store.collect_garbage().unwrap();
    assert_eq!(report.blobs_removed, vec![stray.clone()]);
    assert!(store.content().exists(&leased));
    assert!(store.content().exists(&img.manifest_digest));
    store.delete_lease(&lease).unwrap();
    // An expired lease protects nothing either.
    let old = store
        .create_lease("crashed-build", Some(Duration::from_secs(0)))
        .unwrap();
    let again = store
        .content()
        .put_bytes(b"left by a crashed build")
        .unwrap()
        .digest;
    store.lease_blob(&old, &again).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let report = store.collect_garbage().unwrap();
    assert!(
        report.blobs_removed.contains(&leased) && report.blobs_removed.contains(&again),
        "{report:?}"
    );
    assert!(store.check(false).unwrap().is_healthy());
}

#[test]
fn untagged_image_content_is_collected_after_removal() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("root")).unwrap();
    let (ta, tb) = (tree(tmp.path(), "a", "a"), tree(tmp.path(), "b", "b"));
    let a = common::make_image(&store, &[&ta], Some("a:1"));
    let b = common::make_image(&store, &[&ta, &tb], Some("b:1"));
    store.image_lowerdirs(&a).unwrap();
    store.image_lowerdirs(&b).unwrap();
    store.untag(&Reference::parse("b:1").unwrap()).unwrap();
    let report = store.prune_system(&PruneOptions::default()).unwrap();
    assert_eq!(report.images.len(), 1);
    // The layer shared with `a` stays; b's own layer, config, manifest and snapshot go.
    let m = store.read_manifest(&a.manifest_digest).unwrap();
    assert!(store.content().exists(&m.layers[0].digest));
    assert!(!store.content().exists(&b.manifest_digest));
    assert_eq!(
        report.gc.snapshots_removed.len(),
        1,
        "{:?}",
        report.gc.snapshots_removed
    );
    assert_eq!(store.image_lowerdirs(&a).unwrap().len(), 1);
    assert!(report.gc.reclaimed > 0);
    assert_eq!(store.list_images().unwrap().len(), 1);
}

#[test]
fn prune_policies_for_cache_records() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("root")).unwrap();
    let img = common::make_image(&store, &[&tree(tmp.path(), "a", "a")], Some("a:1"));
    let chains = store.prepare_snapshots(&img).unwrap();
    let blob1 = store
        .content()
        .put_bytes(&vec![1u8; 10_000])
        .unwrap()
        .digest;
    let blob2 = store
        .content()
        .put_bytes(&vec![2u8; 10_000])
        .unwrap()
        .digest;
    store
        .put_cache_record("k-old", None, Some(&blob1), "RUN old")
        .unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    store
        .put_cache_record("k-new", None, Some(&blob2), "RUN new")
        .unwrap();
    store
        .put_cache_record("k-image", Some(&chains[0].to_string()), None, "FROM a")
        .unwrap();
    // keep-storage: drops the least recently used first until under the limit.
    let total: u64 = store
        .list_cache_records()
        .unwrap()
        .iter()
        .map(|r| r.size)
        .sum();
    let r = store
        .prune_build_cache(&PruneOptions {
            keep_storage: Some(total - 10_000),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(r.cache_records, vec!["k-old".to_string()]);
    assert!(!store.content().exists(&blob1) && store.content().exists(&blob2));
    // until: nothing is that old.
    let r = store
        .prune_build_cache(&PruneOptions {
            until: Some(Duration::from_secs(3600)),
            ..Default::default()
        })
        .unwrap();
    assert!(r.cache_records.is_empty());
    // default: unused records go, the one an image uses stays; --all takes it too.
    let r = store.prune_build_cache(&PruneOptions::default()).unwrap();
    assert_eq!(r.cache_records, vec!["k-new".to_string()]);
    assert!(store.get_cache_record("k-image").unwrap().is_some());
    let r = store
        .prune_build_cache(&PruneOptions {
            all: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(r.cache_records, vec!["k-image".to_string()]);
    // The image still owns its snapshot.
    assert!(store.snapshot_path(&chains[0].to_string()).is_dir());
}

#[test]
fn check_finds_corruption_and_repair_fixes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("root")).unwrap();
    let img = common::make_image(&store, &[&tree(tmp.path(), "a", "a")], Some("a:1"));
    let healthy = common::make_image(&store, &[&tree(tmp.path(), "b", "b")], Some("b:1"));
    store.prepare_snapshots(&healthy).unwrap();
    assert!(store.check(false).unwrap().is_healthy());
    let layer = store.read_manifest(&img.manifest_digest).unwrap().layers[0]
        .digest
        .clone();
    // Flip bytes in a layer blob (blobs are read-only to writers, not to root).
    let p = store.content().path(&layer);
    let mut bytes = fs::read(&p).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    fs::write(&p, bytes).unwrap();
    // Remove a snapshot directory behind the database's back, and leave junk around.
    let chain = store.prepare_snapshots(&healthy).unwrap()[0].to_string();
    fs::remove_dir_all(store.snapshot_path(&chain)).unwrap();
    fs::write(
        store.content().ingest_dir().join("ingest-stale"),
        b"partial",
    )
    .unwrap();
    fs::create_dir_all(store.snapshots_dir().join("tmp-stale/fs")).unwrap();
    let rep = store.check(false).unwrap();
    assert!(!rep.is_healthy());
    let all = rep.problems.join("\n");
    assert!(
        all.contains(&layer.to_string()) && all.contains("corrupt"),
        "{all}"
    );
    assert!(all.contains(&chain), "{all}");
    assert!(
        rep.garbage.iter().any(|g| g.contains("ingest-stale")),
        "{:?}",
        rep.garbage
    );
    let rep = store.check(true).unwrap();
    assert!(!rep.repaired.is_empty());
    let after = store.check(false).unwrap();
    assert!(after.is_healthy(), "{:?}", after.problems);
    assert!(after.garbage.is_empty(), "{:?}", after.garbage);
    // The broken image is gone, the healthy one remains and unpacks again.
    let names: Vec<_> = store
        .list_images()
        .unwrap()
        .into_iter()
        .flat_map(|i| i.names)
        .map(|n| n.familiar())
        .collect();
    assert_eq!(names, vec!["b:1"]);
    assert_eq!(store.image_lowerdirs(&healthy).unwrap().len(), 1);
}

#[test]
fn register_refuses_images_with_missing_layers() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("root")).unwrap();
    let img = common::make_image(&store, &[&tree(tmp.path(), "a", "a")], None);
    let layer = store.read_manifest(&img.manifest_digest).unwrap().layers[0]
        .digest
        .clone();
    store.remove_image_with_tags(&img.manifest_digest).unwrap();
    store.content().delete(&layer).unwrap();
    let err = store
        .register_image(&img.manifest_digest, &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains(&layer.to_string()), "{err}");
    assert!(store.list_images().unwrap().is_empty());
}

#[test]
fn resolve_by_name_id_prefix_and_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("root")).unwrap();
    let img = common::make_image(&store, &[&tree(tmp.path(), "a", "a")], Some("busybox"));
    for q in [
        "busybox",
        "busybox:latest",
        "docker.io/library/busybox:latest",
        &img.config_digest.to_string(),
        &img.config_digest.hex()[..8],
        &img.manifest_digest.to_string(),
    ] {
        assert_eq!(
            store.resolve_image(q).unwrap().manifest_digest,
            img.manifest_digest,
            "{q}"
        );
    }
    assert!(store.resolve_image("busybox:other").is_err());
    assert!(store.resolve_image("abc").is_err());
}

#[test]
fn cache_records_keep_the_blobs_their_result_refers_to() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("root")).unwrap();
    let put = |b: u8| store.content().put_bytes(&[b; 4096]).unwrap().digest;
    let (doc, layer1, layer2, stray) = (put(1), put(2), put(3), put(4));
    store
        .put_cache_record_with_refs(
            "k",
            None,
            Some(&doc),
            "RUN make",
            &[layer1.clone(), layer2.clone()],
        )
        .unwrap();
    store.collect_garbage().unwrap();
    for b in [&doc, &layer1, &layer2] {
        assert!(
            store.content().exists(b),
            "{b} referenced by a cache record was collected"
        );
    }
    assert!(!store.content().exists(&stray));
    // Replacing the record replaces its references; deleting it frees them.
    store
        .put_cache_record_with_refs(
            "k",
            None,
            Some(&doc),
            "RUN make",
            std::slice::from_ref(&layer1),
        )
        .unwrap();
    store.collect_garbage().unwrap();
    assert!(store.content().exists(&layer1) && !store.content().exists(&layer2));
    store.delete_cache_records(&["k".to_string()]).unwrap();
    store.collect_garbage().unwrap();
    assert!(!store.content().exists(&doc) && !store.content().exists(&layer1));
}
