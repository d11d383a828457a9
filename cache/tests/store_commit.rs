//! A build's flow through the store: run on an image's lowerdirs with an overlay upper dir,
//! commit the upper dir as a layer and snapshot (protected by a lease), commit the image.

mod common;

use std::fs;
use std::time::Duration;

use kiln_cache::image::spec::{chain_ids, ImageConfig, RootFs};
use kiln_cache::layer::{diff, Compression, TarOptions};
use kiln_cache::{Reference, Store};

#[test]
fn commit_overlay_upper_as_a_new_image() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("root")).unwrap();
    let base_tree = tmp.path().join("base");
    fs::create_dir_all(base_tree.join("etc")).unwrap();
    fs::write(base_tree.join("etc/motd"), "base").unwrap();
    fs::write(base_tree.join("etc/remove-me"), "x").unwrap();
    let base = common::make_image(&store, &[&base_tree], Some("base:1"));
    let lower = store.image_lowerdirs(&base).unwrap();

    // What the executor does: an overlay with the image as lowerdirs, changes land in upper.
    let (upper, work, merged) = (
        tmp.path().join("upper"),
        tmp.path().join("work"),
        tmp.path().join("merged"),
    );
    for d in [&upper, &work, &merged] {
        fs::create_dir(d).unwrap();
    }
    let guard = common::mount_overlay_rw(&lower, &upper, &work, &merged);
    fs::write(merged.join("etc/motd"), "built").unwrap();
    fs::remove_file(merged.join("etc/remove-me")).unwrap();
    fs::write(merged.join("new"), "new").unwrap();
    drop(guard);

    let lease = store
        .create_lease("build-42", Some(Duration::from_secs(600)))
        .unwrap();
    let base_cfg = store.read_config(&base.config_digest).unwrap();
    let parent = chain_ids(&base_cfg.rootfs.diff_ids).last().cloned();
    let entries = diff::diff_overlay_upper(&upper).unwrap();
    let layer = store
        .commit_layer(
            parent.as_ref(),
            &entries,
            TarOptions::default(),
            Compression::Gzip,
            Some(&lease),
        )
        .unwrap();
    // The lease keeps the uncommitted layer and snapshot through a GC.
    store.collect_garbage().unwrap();
    assert!(store.content().exists(&layer.blob.digest));
    assert!(store
        .snapshot_path(&layer.chain_id.to_string())
        .join("fs/new")
        .is_file());

    let m = store.read_manifest(&base.manifest_digest).unwrap();
    let base_layer = kiln_cache::layer::LayerBlob {
        digest: m.layers[0].digest.clone(),
        diff_id: base_cfg.rootfs.diff_ids[0].clone(),
        size: m.layers[0].size,
        uncompressed_size: 0,
        compression: Compression::Gzip,
        media_type: m.layers[0].media_type.clone(),
    };
    let config = ImageConfig {
        architecture: base_cfg.architecture.clone(),
        os: base_cfg.os.clone(),
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: vec![base_layer.diff_id.clone(), layer.blob.diff_id.clone()],
        },
        ..Default::default()
    };
    let img = store
        .commit_image(
            &config,
            &[base_layer, layer.blob.clone()],
            &[Reference::parse("built:1").unwrap()],
        )
        .unwrap();
    store.delete_lease(&lease).unwrap();
    store.collect_garbage().unwrap();
    let lower = store.image_lowerdirs(&img).unwrap();
    assert_eq!(
        lower[0],
        store.snapshot_path(&layer.chain_id.to_string()).join("fs"),
        "the committed snapshot is reused"
    );
    let view = tmp.path().join("view");
    fs::create_dir(&view).unwrap();
    let _g = common::mount_overlay_ro(&lower, &view);
    assert_eq!(fs::read_to_string(view.join("etc/motd")).unwrap(), "built");
    assert_eq!(fs::read_to_string(view.join("new")).unwrap(), "new");
    assert!(!view.join("etc/remove-me").exists());
    assert!(store.check(false).unwrap().is_healthy());
}
