//! Push and pull a large image (default 500 MB in 5 layers; `KILN_BENCH_MB` to change) to a
//! local `docker-registry` over loopback with kiln's client, then the same image with
//! `skopeo copy`, and print both times and their ratio. Run: `cargo bench -p kiln-registry`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::{bytes, config, Auth, Registry};
use kiln_registry::manifest::{OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST};
use kiln_registry::{
    BlobSource, Descriptor, Digest, ImageManifest, Platform, PlatformExt, Reference, ReferenceExt,
    RegistryClient,
};

const LAYERS: usize = 5;

fn main() {
    let total_mb: usize = std::env::var("KILN_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let layer_len = total_mb * 1024 * 1024 / LAYERS;
    let reg = Registry::start(Auth::None);
    let work = tempfile::tempdir().expect("tempdir");
    let layout = work.path().join("layout");
    let (manifest, blobs) = write_layout(&layout, layer_len);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let client = RegistryClient::new(config());
    let kiln_ref = Reference::parse(&format!("{}/bench/kiln:1", reg.host())).expect("ref");

    let t = Instant::now();
    rt.block_on(async {
        client
            .push_blobs(&kiln_ref.repo(), &blobs, None)
            .await
            .expect("push blobs");
        client
            .put_manifest(&kiln_ref, OCI_MANIFEST, manifest.clone().into())
            .await
            .expect("put manifest");
    });
    let kiln_push = t.elapsed().as_secs_f64();

    let pulled = work.path().join("pulled");
    std::fs::create_dir(&pulled).expect("mkdir");
    let t = Instant::now();
    rt.block_on(async {
        let resolved = client
            .resolve(&kiln_ref, &Platform::linux_amd64())
            .await
            .expect("resolve");
        let repo = kiln_ref.repo();
        let mut all = resolved.manifest.layers.clone();
        all.push(resolved.manifest.config.clone());
        client
            .fetch_blobs(
                &repo,
                &all,
                |d: &Descriptor| {
                    let path = pulled.join(d.digest.hex());
                    async move { tokio::fs::File::create(path).await.map(Some) }
                },
                |_, f: tokio::fs::File| async move { f.sync_all().await },
            )
            .await
            .expect("pull");
    });
    let kiln_pull = t.elapsed().as_secs_f64();

    let skopeo_dest = format!("docker://{}/bench/skopeo:1", reg.host());
    let t = Instant::now();
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:bench", layout.display()),
        &skopeo_dest,
    ]);
    let skopeo_push = t.elapsed().as_secs_f64();
    let skopeo_out = work.path().join("skopeo-pulled");
    let t = Instant::now();
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &skopeo_dest,
        &format!("oci:{}:bench", skopeo_out.display()),
    ]);
    let skopeo_pull = t.elapsed().as_secs_f64();

    println!("image: {total_mb} MB in {LAYERS} layers, docker-registry on loopback");
    println!(
        "push: kiln {kiln_push:.2}s, skopeo {skopeo_push:.2}s, kiln/skopeo = {:.2}",
        kiln_push / skopeo_push
    );
    println!(
        "pull: kiln {kiln_pull:.2}s, skopeo {skopeo_pull:.2}s, kiln/skopeo = {:.2}",
        kiln_pull / skopeo_pull
    );
}

/// An OCI layout holding the image, for skopeo; returns the manifest and kiln's blob list.
fn write_layout(dir: &Path, layer_len: usize) -> (Vec<u8>, Vec<(Descriptor, BlobSource)>) {
    let blob_dir = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blob_dir).expect("layout dirs");
    let put = |data: &[u8], media: &str| {
        let d = Descriptor::new(media, Digest::of_bytes(data), data.len() as u64);
        let path = blob_dir.join(d.digest.hex());
        std::fs::write(&path, data).expect("write blob");
        (d, BlobSource::File(path))
    };
    let mut blobs: Vec<_> = (0..LAYERS)
        .map(|i| put(&bytes(1000 + i as u64, layer_len), OCI_LAYER_GZIP))
        .collect();
    let diff_ids: Vec<String> = blobs
        .iter()
        .map(|(d, _)| format!("\"{}\"", d.digest))
        .collect();
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":[{}]}}}}"#,
        diff_ids.join(",")
    );
    let config = put(config.as_bytes(), OCI_CONFIG);
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.into()),
        config: config.0.clone(),
        layers: blobs.iter().map(|(d, _)| d.clone()).collect(),
        annotations: Default::default(),
        extra: Default::default(),
    };
    let manifest = serde_json::to_vec(&manifest).expect("manifest");
    let (mdesc, _) = put(&manifest, OCI_MANIFEST);
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": OCI_MANIFEST, "digest": mdesc.digest.to_string(), "size": mdesc.size,
        "annotations": {"org.opencontainers.image.ref.name": "bench"}}]});
    std::fs::write(dir.join("index.json"), index.to_string()).expect("index.json");
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
        .expect("oci-layout");
    blobs.push(config);
    (manifest, blobs)
}

fn skopeo(args: &[&str]) {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
