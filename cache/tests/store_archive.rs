//! Loading OCI layouts that carry Docker schema2 manifests behind a manifest list, picking
//! the host's platform, and save -> load round trips through the library API.

mod common;

use std::fs;
use std::path::Path;

use kiln_cache::archive::load::{load_path, load_stream};
use kiln_cache::archive::save::{save, SaveItem};
use kiln_cache::image::spec::{host_platform, media};
use kiln_cache::{Digest, Reference, Store};

fn put(layout: &Path, bytes: &[u8]) -> (Digest, usize) {
    let d = Digest::of_bytes(bytes);
    fs::write(layout.join("blobs/sha256").join(d.hex()), bytes).unwrap();
    (d, bytes.len())
}

#[test]
fn docker_manifest_list_in_an_oci_layout_picks_the_host_platform() {
    let tmp = tempfile::tempdir().unwrap();
    // Make a real layer with a scratch store, then copy its blob into a hand-written layout.
    let scratch = Store::open(&tmp.path().join("scratch")).unwrap();
    let src = tmp.path().join("src");
    fs::create_dir_all(src.join("etc")).unwrap();
    fs::write(src.join("etc/os-release"), "ID=test\n").unwrap();
    let entries = kiln_cache::layer::diff::tree_entries(&src).unwrap();
    let blob = kiln_cache::layer::write_layer(
        scratch.content(),
        &entries,
        Default::default(),
        kiln_cache::layer::Compression::Gzip,
    )
    .unwrap();
    let layout = tmp.path().join("layout");
    fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    let (layer, layer_size) = put(
        &layout,
        &fs::read(scratch.content().path(&blob.digest)).unwrap(),
    );
    let (os, arch) = host_platform();
    let mut manifests = Vec::new();
    for (i, a) in ["s390x", arch].iter().enumerate() {
        let cfg = format!(
            r#"{{"architecture":"{a}","os":"{os}","config":{{"Cmd":["variant-{i}"]}},"rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
            blob.diff_id
        );
        let (cd, cs) = put(&layout, cfg.as_bytes());
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{cd}","size":{cs}}},"layers":[{{"mediaType":"{}","digest":"{layer}","size":{layer_size}}}]}}"#,
            media::DOCKER_MANIFEST,
            media::DOCKER_CONFIG,
            media::DOCKER_LAYER_GZIP
        );
        let (md, ms) = put(&layout, m.as_bytes());
        manifests.push(format!(r#"{{"mediaType":"{}","digest":"{md}","size":{ms},"platform":{{"architecture":"{a}","os":"{os}"}}}}"#, media::DOCKER_MANIFEST));
    }
    let list = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{}]}}"#,
        media::DOCKER_LIST,
        manifests.join(",")
    );
    let (ld, ls) = put(&layout, list.as_bytes());
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{}","digest":"{ld}","size":{ls},"annotations":{{"io.containerd.image.name":"example.com/multi:1","org.opencontainers.image.ref.name":"1"}}}}]}}"#,
        media::DOCKER_LIST
    );
    fs::write(layout.join("index.json"), index).unwrap();
    fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();

    let store = Store::open(&tmp.path().join("root")).unwrap();
    let loaded = load_path(&store, &layout).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(
        loaded[0].names,
        vec![Reference::parse("example.com/multi:1").unwrap()]
    );
    let img = store.resolve_image("example.com/multi:1").unwrap();
    assert_eq!(img.media_type, media::DOCKER_MANIFEST);
    let cfg = store.read_config(&img.config_digest).unwrap();
    assert_eq!(cfg.architecture, arch);
    assert_eq!(cfg.config.unwrap().cmd.unwrap(), vec!["variant-1"]);
    let lower = store.image_lowerdirs(&img).unwrap();
    assert_eq!(
        fs::read_to_string(lower[0].join("etc/os-release")).unwrap(),
        "ID=test\n"
    );
    assert!(store.check(false).unwrap().is_healthy());
}

#[test]
fn save_and_load_round_trip_through_the_api() {
    let tmp = tempfile::tempdir().unwrap();
    let a = Store::open(&tmp.path().join("a")).unwrap();
    let src = tmp.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("hello"), "world").unwrap();
    let img = common::make_image(&a, &[&src], Some("round:trip"));
    let names = vec![Reference::parse("round:trip").unwrap()];
    let bytes = save(
        &a,
        &[SaveItem {
            image: img.clone(),
            names: names.clone(),
        }],
        Vec::new(),
    )
    .unwrap();
    let b = Store::open(&tmp.path().join("b")).unwrap();
    let loaded = load_stream(&b, &bytes[..]).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].image.manifest_digest, img.manifest_digest);
    assert_eq!(loaded[0].names, names);
    // A truncated archive fails cleanly and leaves no image behind.
    let c = Store::open(&tmp.path().join("c")).unwrap();
    assert!(load_stream(&c, &bytes[..bytes.len() / 2]).is_err());
    assert!(c.list_images().unwrap().is_empty());
    assert!(c.check(false).unwrap().is_healthy());
}
