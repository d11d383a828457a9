//! Other tools accept kiln's images and kiln accepts theirs: skopeo reads `kiln save` output
//! as docker-archive and oci-archive, umoci unpacks kiln's OCI layout to the same tree kiln
//! itself produces, and archives written by skopeo load into kiln.

mod images_support;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use images_support::{tool, Kiln};
use kiln_cache::layer::{apply_layer_blob, ApplyMode, ApplyOptions};

fn saved_busybox(k: &Kiln) -> String {
    k.load_busybox();
    let archive = k.path("kiln-save.tar");
    k.ok(&["save", "-o", archive.to_str().unwrap(), "busybox"]);
    archive.display().to_string()
}

#[test]
fn skopeo_inspects_kiln_archives() {
    let k = Kiln::new();
    let archive = saved_busybox(&k);
    let layer = k.ok(&["inspect", "--format", "{{json .RootFS.Layers}}", "busybox"]);
    let layers: Vec<String> = serde_json::from_str(layer.trim()).unwrap();
    for transport in ["docker-archive", "oci-archive"] {
        let out = tool("skopeo", &["inspect", &format!("{transport}:{archive}")]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["Os"], "linux", "{transport}: {out}");
        // skopeo reports diff ids for docker-archive, blob digests for OCI; both name one layer.
        assert_eq!(
            v["Layers"].as_array().unwrap().len(),
            1,
            "{transport}: {out}"
        );
        if transport == "docker-archive" {
            assert_eq!(v["Layers"][0], layers[0]);
        }
    }
    let cfg = tool(
        "skopeo",
        &["inspect", "--config", &format!("oci-archive:{archive}")],
    );
    let v: serde_json::Value = serde_json::from_str(&cfg).unwrap();
    assert_eq!(v["config"]["Cmd"], serde_json::json!(["sh"]));
}

#[test]
fn skopeo_written_archives_load_into_kiln() {
    let k = Kiln::new();
    let archive = saved_busybox(&k);
    let id = k.ok(&["images", "-q", "--no-trunc"]).trim().to_string();
    let docker = k.path("skopeo-docker.tar");
    let oci = k.path("skopeo-oci.tar");
    tool(
        "skopeo",
        &[
            "copy",
            &format!("docker-archive:{archive}"),
            &format!("docker-archive:{}:skopeo/docker:v1", docker.display()),
        ],
    );
    tool(
        "skopeo",
        &[
            "copy",
            &format!("docker-archive:{archive}"),
            &format!("oci-archive:{}:skopeo/oci:v1", oci.display()),
        ],
    );
    let other = Kiln::new();
    assert_eq!(
        other.ok(&["load", "-i", docker.to_str().unwrap()]).trim(),
        "Loaded image: skopeo/docker:v1"
    );
    assert_eq!(
        other.ok(&["load", "-i", oci.to_str().unwrap()]).trim(),
        "Loaded image: skopeo/oci:v1"
    );
    // The docker-archive copy keeps the config byte for byte: same image id.
    assert_eq!(
        other
            .ok(&["inspect", "--format", "{{.Id}}", "skopeo/docker:v1"])
            .trim(),
        id
    );
    let diff = |r: &str| other.ok(&["inspect", "--format", "{{json .RootFS.Layers}}", r]);
    assert_eq!(diff("skopeo/docker:v1"), diff("skopeo/oci:v1"));
    assert!(other
        .ok(&["system", "check"])
        .contains("no corruption found"));
    // And both unpack into snapshots that verify against their diff ids.
    let store = kiln_cache::Store::open(&other.root).unwrap();
    for name in ["skopeo/docker:v1", "skopeo/oci:v1"] {
        let img = store.resolve_image(name).unwrap();
        assert_eq!(store.image_lowerdirs(&img).unwrap().len(), 1);
    }
}

fn describe(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let md = fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let what = if md.is_dir() {
                stack.push(p.clone());
                "dir".to_string()
            } else if md.file_type().is_symlink() {
                format!("-> {}", fs::read_link(&p).unwrap().display())
            } else {
                format!(
                    "file {}",
                    kiln_cache::Digest::of_bytes(&fs::read(&p).unwrap())
                )
            };
            let mode = if md.file_type().is_symlink() {
                0
            } else {
                md.mode() & 0o7777
            };
            out.insert(rel, format!("{what} {mode:o} {}:{}", md.uid(), md.gid()));
        }
    }
    out
}

#[test]
fn umoci_unpacks_kiln_layout_to_the_same_tree() {
    let k = Kiln::new();
    let archive = saved_busybox(&k);
    let layout = k.path("layout");
    fs::create_dir(&layout).unwrap();
    tool("tar", &["-C", layout.to_str().unwrap(), "-xf", &archive]);
    let bundle = k.path("bundle");
    tool(
        "umoci",
        &[
            "unpack",
            "--image",
            &format!("{}:latest", layout.display()),
            bundle.to_str().unwrap(),
        ],
    );
    // kiln's own export of the image filesystem: its layers applied in order.
    let store = kiln_cache::Store::open(&k.root).unwrap();
    let img = store.resolve_image("busybox").unwrap();
    let manifest = store.read_manifest(&img.manifest_digest).unwrap();
    let config = store.read_config(&img.config_digest).unwrap();
    let ours = k.path("kiln-rootfs");
    fs::create_dir(&ours).unwrap();
    for (l, d) in manifest.layers.iter().zip(&config.rootfs.diff_ids) {
        apply_layer_blob(
            store.content(),
            &l.digest,
            Some(d),
            &ours,
            ApplyOptions {
                mode: ApplyMode::Merge,
                allow_devices: false,
            },
        )
        .unwrap();
    }
    let theirs = describe(&bundle.join("rootfs"));
    assert!(
        theirs.len() > 100,
        "umoci unpacked only {} entries",
        theirs.len()
    );
    assert_eq!(theirs, describe(&ours));
}
