//! Reproducible and compact images end to end: SOURCE_DATE_EPOCH (same digest from two
//! empty stores, another epoch another digest), `--squash`, and the layer compression of
//! image, OCI and Docker outputs (media types read back from the archives and the store).

mod build_support;

use std::path::Path;
use std::process::Command;

use build_support::{assert_history_matches_layers, testdata, Kiln};

fn ctx(rel: &str) -> String {
    testdata(rel).to_str().unwrap().to_string()
}

/// Build `rel` with `extra` args, returning the manifest digest from --metadata-file.
fn build_digest(k: &Kiln, rel: &str, extra: &[&str], envs: &[(&str, &str)]) -> String {
    let meta = k.path("meta.json");
    let mut args = vec!["build", "--progress", "plain", "--metadata-file"];
    let meta_s = meta.to_str().unwrap().to_string();
    args.push(&meta_s);
    args.extend_from_slice(extra);
    let c = ctx(rel);
    args.push(&c);
    let mut cmd = k.cmd(&args);
    cmd.env_remove("SOURCE_DATE_EPOCH");
    for (key, v) in envs {
        cmd.env(key, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    v["containerimage.digest"].as_str().unwrap().to_string()
}

#[test]
fn source_date_epoch_gives_the_same_digest_on_two_stores() {
    let a = Kiln::with_busybox();
    let b = Kiln::with_busybox();
    let epoch = ["--build-arg", "SOURCE_DATE_EPOCH=1700000000", "-t", "repro"];
    let da = build_digest(&a, "build/repro", &epoch, &[]);
    let db = build_digest(&b, "build/repro", &epoch, &[]);
    assert_eq!(da, db, "two stores, one input, one epoch: one digest");

    let img = a.inspect("repro");
    assert_eq!(img["Created"], "2023-11-14T22:13:20Z");
    let history = img["History"].as_array().unwrap();
    // The base keeps its own time; every new entry has the epoch.
    assert_eq!(history[0]["created"], "2024-01-01T00:00:00Z");
    for h in &history[1..] {
        assert_eq!(h["created"], "2023-11-14T22:13:20Z", "{h}");
    }
    // Files the build wrote carry the epoch; base files keep their older times.
    assert_eq!(
        a.sh(
            "repro",
            "stat -c %Y /built.txt /var/data/x /var/data /hello.txt /bin/busybox"
        ),
        "1700000000\n1700000000\n1700000000\n1700000000\n1704067200\n"
    );
    assert_history_matches_layers(&img);

    // The environment variable works too; another epoch is another image.
    let other = build_digest(
        &a,
        "build/repro",
        &["-t", "repro:other"],
        &[("SOURCE_DATE_EPOCH", "1600000000")],
    );
    assert_ne!(other, da);
    assert_eq!(a.inspect("repro:other")["Created"], "2020-09-13T12:26:40Z");
    // Without an epoch the image gets the build time (not pinned), and the cached steps'
    // layers are the unclamped originals.
    let plain = build_digest(&a, "build/repro", &["-t", "repro:plain"], &[]);
    assert_ne!(plain, da);

    // A store whose first build had the epoch in its environment: the cache must still
    // hold real mtimes, so a later build without an epoch does not inherit clamped files.
    let c = Kiln::with_busybox();
    build_digest(
        &c,
        "build/repro",
        &["-t", "repro"],
        &[("SOURCE_DATE_EPOCH", "1600000000")],
    );
    build_digest(&c, "build/repro", &["-t", "repro:plain"], &[]);
    // Read the layers as shipped (a container in `c` would see the step's snapshot, which
    // never was clamped): save, load into another store, look there.
    let saved = c.path("plain.tar");
    c.ok(&["save", "-o", saved.to_str().unwrap(), "repro:plain"]);
    let d = Kiln::with_busybox();
    d.ok(&["load", "-i", saved.to_str().unwrap()]);
    let mtime: i64 = d
        .sh("repro:plain", "stat -c %Y /built.txt")
        .trim()
        .parse()
        .unwrap();
    assert!(mtime > 1_700_000_000, "cached layer was clamped: {mtime}");
}

#[test]
fn squash_makes_one_layer_above_the_base() {
    let k = Kiln::with_busybox();
    k.build(&["-t", "layered", &ctx("build/squash")]);
    k.build(&["-t", "squashed", "--squash", &ctx("build/squash")]);
    let layered = k.inspect("layered");
    let squashed = k.inspect("squashed");
    let layers = |img: &serde_json::Value| img["RootFS"]["Layers"].as_array().unwrap().clone();
    assert_eq!(layers(&layered).len(), 5);
    assert_eq!(layers(&squashed).len(), 2);
    assert_eq!(layers(&squashed)[0], layers(&layered)[0], "base layer kept");
    assert_history_matches_layers(&squashed);
    assert_eq!(
        squashed["History"].as_array().unwrap().len(),
        layered["History"].as_array().unwrap().len()
    );
    // Same filesystem: added, removed-again and removed-from-base files as in the layered one.
    let probe = "cat /two.txt /hello.txt; for f in /one.txt /etc/group; do test -e $f && echo has $f; done; echo $SQUASHED";
    let expected = "two\nhello, squashed\nyes\n";
    assert_eq!(k.sh("layered", probe), expected);
    assert_eq!(k.sh("squashed", probe), expected);
}

/// `tar -xf archive -C dir`.
fn untar(archive: &Path, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let st = Command::new("tar")
        .arg("-xf")
        .arg(archive)
        .arg("-C")
        .arg(dir)
        .status()
        .unwrap();
    assert!(st.success());
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// Layer media types of the (only) image in an OCI layout directory.
fn layer_types(layout: &Path) -> Vec<String> {
    let index = read_json(&layout.join("index.json"));
    let digest = index["manifests"][0]["digest"].as_str().unwrap();
    let manifest = read_json(&layout.join("blobs/sha256").join(&digest[7..]));
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap().to_string())
        .collect()
}

fn skopeo_inspect(transport: &str, archive: &Path) -> serde_json::Value {
    let out = Command::new("skopeo")
        .arg("inspect")
        .arg(format!("{transport}:{}", archive.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo inspect {transport}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

const GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
const TAR: &str = "application/vnd.oci.image.layer.v1.tar";

#[test]
fn compression_options_on_image_oci_and_docker_outputs() {
    let k = Kiln::with_busybox();
    // Image output: the build's layers zstd, the base layer kept as it came.
    k.build(&[
        "-t",
        "zimg",
        "--output",
        "type=image,compression=zstd,compression-level=19",
        &ctx("build/repro"),
    ]);
    let saved = k.path("zimg.tar");
    k.ok(&["save", "-o", saved.to_str().unwrap(), "zimg"]);
    let dir = k.path("zimg");
    untar(&saved, &dir);
    assert_eq!(layer_types(&dir), vec![GZIP, ZSTD, ZSTD]);
    assert_eq!(k.ok(&["run", "--rm", "zimg"]), "built\n");

    // OCI archive, forced: every layer zstd; skopeo reads it.
    let oci = k.path("forced.oci.tar");
    k.build(&[
        "--output",
        &format!(
            "type=oci,dest={},compression=zstd,force-compression=true",
            oci.display()
        ),
        &ctx("build/repro"),
    ]);
    let dir = k.path("forced");
    untar(&oci, &dir);
    assert_eq!(layer_types(&dir), vec![ZSTD, ZSTD, ZSTD]);
    let info = skopeo_inspect("oci-archive", &oci);
    assert_eq!(info["Layers"].as_array().unwrap().len(), 3);

    // Docker archive, uncompressed and forced: plain tar layers that load back and run.
    let docker = k.path("plain.docker.tar");
    k.build(&[
        "-t",
        "plainimg",
        "--output",
        &format!(
            "type=docker,dest={},compression=uncompressed,force-compression=true",
            docker.display()
        ),
        &ctx("build/repro"),
    ]);
    let dir = k.path("plain");
    untar(&docker, &dir);
    assert_eq!(layer_types(&dir), vec![TAR, TAR, TAR]);
    skopeo_inspect("docker-archive", &docker);
    let other = Kiln::with_busybox();
    other.ok(&["load", "-i", docker.to_str().unwrap()]);
    assert_eq!(other.ok(&["run", "--rm", "plainimg"]), "built\n");
}
