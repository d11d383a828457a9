//! The batched lease paths a build uses (one transaction per step instead of one per blob)
//! protect exactly what the one-blob-at-a-time calls protected.

use std::time::Duration;

use kiln_cache::{Digest, Store};

fn blob(store: &Store, text: &str) -> Digest {
    store.content().put_bytes(text.as_bytes()).unwrap().digest
}

#[test]
fn lease_blobs_keeps_every_blob_listed_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("root")).unwrap();
    let kept: Vec<Digest> = (0..5)
        .map(|i| blob(&store, &format!("layer {i}")))
        .collect();
    let stray = blob(&store, "not leased");
    let lease = store
        .create_lease("build-batch", Some(Duration::from_secs(3600)))
        .unwrap();
    store.lease_blobs(&lease, &kept).unwrap();
    // Leasing again (a cached step seen twice) is harmless.
    store.lease_blobs(&lease, &kept[..2]).unwrap();
    let report = store.collect_garbage().unwrap();
    assert_eq!(report.blobs_removed, vec![stray]);
    assert!(kept.iter().all(|d| store.content().exists(d)));
    store.delete_lease(&lease).unwrap();
    let report = store.collect_garbage().unwrap();
    assert_eq!(report.blobs_removed.len(), kept.len(), "{report:?}");
}

#[test]
fn leased_cache_record_and_layer_record_hold_their_blobs() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("root")).unwrap();
    let layer = blob(&store, "a layer");
    let doc = blob(&store, "a state document");
    let diff_id = Digest::of_bytes(b"the layer's tar");
    let lease = store
        .create_lease("build-step", Some(Duration::from_secs(3600)))
        .unwrap();
    store
        .record_layer_blob_leased(&diff_id, &layer, "application/x-test", Some(&lease))
        .unwrap();
    store
        .put_cache_record_leased(
            "sha256:key",
            None,
            Some(&doc),
            "RUN test",
            std::slice::from_ref(&layer),
            Some(&lease),
        )
        .unwrap();
    let rec = store.get_cache_record("sha256:key").unwrap().unwrap();
    assert_eq!(rec.blob.as_ref(), Some(&doc));
    // The record alone keeps both after the lease ends; removing it frees both.
    store.delete_lease(&lease).unwrap();
    assert!(store.collect_garbage().unwrap().blobs_removed.is_empty());
    assert!(store.content().exists(&layer) && store.content().exists(&doc));
    // While only the lease holds them (no record yet), GC keeps them too.
    let lease2 = store
        .create_lease("build-2", Some(Duration::from_secs(3600)))
        .unwrap();
    let other_layer = blob(&store, "another layer");
    let other_doc = blob(&store, "another document");
    store
        .record_layer_blob_leased(&diff_id, &other_layer, "application/x-test", Some(&lease2))
        .unwrap();
    store.lease_blobs(&lease2, [&other_doc]).unwrap();
    let report = store.collect_garbage().unwrap();
    assert!(
        !report.blobs_removed.contains(&other_layer) && !report.blobs_removed.contains(&other_doc),
        "{report:?}"
    );
}
