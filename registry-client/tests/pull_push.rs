//! Pull and push against a real `docker-registry` without auth.

mod common;

use bytes::Bytes;
use common::{bytes, config, proxy::Proxy, Auth, Registry, TestImage};
use kiln_registry::manifest::{OCI_INDEX, OCI_MANIFEST};
use kiln_registry::ReferenceExt;
use kiln_registry::{
    BlobSource, ClientConfig, Descriptor, Digest, ImageIndex, Platform, PlatformExt, PushOutcome,
    Reference, RegistryClient, RegistryError,
};

fn reference(reg: &Registry, repo_tag: &str) -> Reference {
    Reference::parse(&format!("{}/{repo_tag}", reg.host())).expect("reference")
}

async fn push_image(client: &RegistryClient, r: &Reference, img: &TestImage) -> Digest {
    let outcomes = client
        .push_blobs(&r.repo(), &img.blobs(), None)
        .await
        .expect("push blobs");
    assert!(outcomes.iter().all(|o| matches!(
        o,
        PushOutcome::Uploaded { .. } | PushOutcome::AlreadyPresent
    )));
    client
        .put_manifest(r, OCI_MANIFEST, Bytes::from(img.manifest.clone()))
        .await
        .expect("put manifest")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_then_pull_round_trips_and_skips_present_blobs() {
    let reg = Registry::start(Auth::None);
    let client = RegistryClient::new(config());
    let r = reference(&reg, "team/app:v1");
    let img = TestImage::new(1, &[100_000, 3_000]);
    let digest = push_image(&client, &r, &img).await;
    assert_eq!(digest, Digest::of_bytes(&img.manifest));

    let resolved = client
        .resolve(&r, &Platform::linux_amd64())
        .await
        .expect("resolve");
    assert_eq!(resolved.digest, digest);
    assert!(resolved.index.is_none());
    assert_eq!(resolved.manifest.layers.len(), 2);
    let config_bytes = client
        .fetch_blob_bytes(&r.repo(), &resolved.manifest.config)
        .await
        .expect("config");
    assert_eq!(config_bytes.as_ref(), img.config.1.as_slice());

    let dir = tempfile::tempdir().expect("tempdir");
    let stats = client
        .fetch_blobs(
            &r.repo(),
            &resolved.manifest.layers,
            |d: &Descriptor| {
                let path = dir.path().join(d.digest.hex());
                async move { tokio::fs::File::create(path).await.map(Some) }
            },
            |_, _| async { Ok(()) },
        )
        .await
        .expect("fetch layers");
    assert_eq!(stats.iter().map(|s| s.bytes).sum::<u64>(), 103_000);
    for (d, data) in &img.layers {
        assert_eq!(
            &std::fs::read(dir.path().join(d.digest.hex())).expect("layer file"),
            data
        );
    }

    // By digest, too; and a second push uploads nothing.
    let by_digest = Reference {
        digest: Some(digest.clone()),
        ..r.clone()
    };
    assert_eq!(
        client
            .get_manifest(&r.repo(), &by_digest.manifest_ref())
            .await
            .expect("by digest")
            .digest,
        digest
    );
    let again = client
        .push_blobs(&r.repo(), &img.blobs(), None)
        .await
        .expect("re-push");
    assert!(
        again.iter().all(|o| *o == PushOutcome::AlreadyPresent),
        "{again:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_repository_mount_moves_no_bytes() {
    let reg = Registry::start(Auth::None);
    let client = RegistryClient::new(config());
    let a = reference(&reg, "a/base:1");
    let b = reference(&reg, "b/derived:1");
    let img = TestImage::new(2, &[50_000]);
    push_image(&client, &a, &img).await;
    let (layer, data) = &img.layers[0];
    let outcome = client
        .push_blob(
            &b.repo(),
            layer,
            &BlobSource::Bytes(data.clone().into()),
            Some(&a.repo()),
        )
        .await
        .expect("mount");
    assert_eq!(outcome, PushOutcome::Mounted);
    assert!(client
        .blob_exists(&b.repo(), &layer.digest)
        .await
        .expect("head"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_blobs_upload_in_chunks_from_a_file() {
    let reg = Registry::start(Auth::None);
    let cfg = ClientConfig {
        monolithic_limit: 64 * 1024,
        chunk_size: 100 * 1024,
        ..config()
    };
    let client = RegistryClient::new(cfg);
    let r = reference(&reg, "chunked:1");
    let data = bytes(3, 350 * 1024 + 7);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("layer");
    std::fs::write(&path, &data).expect("write layer");
    let desc = Descriptor::new(
        kiln_registry::manifest::OCI_LAYER_GZIP,
        Digest::of_bytes(&data),
        data.len() as u64,
    );
    let outcome = client
        .push_blob(&r.repo(), &desc, &BlobSource::File(path), None)
        .await
        .expect("chunked push");
    assert_eq!(outcome, PushOutcome::Uploaded { chunks: 4 });
    let mut got = Vec::new();
    client
        .fetch_blob(&r.repo(), &desc, &mut got)
        .await
        .expect("pull back");
    assert!(got == data, "chunked upload changed the blob");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_resolves_to_the_requested_platform() {
    let reg = Registry::start(Auth::None);
    let client = RegistryClient::new(config());
    let r = reference(&reg, "multi:latest");
    let amd = TestImage::new(4, &[1000]);
    let arm = TestImage::new(5, &[2000]);
    let amd_digest = push_image(&client, &reference(&reg, "multi:amd64"), &amd).await;
    let arm_digest = push_image(&client, &reference(&reg, "multi:arm64"), &arm).await;
    let entry = |digest: Digest, len: usize, platform: &str| {
        let mut d = Descriptor::new(OCI_MANIFEST, digest, len as u64);
        d.platform = Some(Platform::parse(platform).expect("platform"));
        d
    };
    let index = ImageIndex {
        schema_version: 2,
        media_type: Some(OCI_INDEX.into()),
        manifests: vec![
            entry(amd_digest.clone(), amd.manifest.len(), "linux/amd64"),
            entry(arm_digest.clone(), arm.manifest.len(), "linux/arm64"),
        ],
        annotations: Default::default(),
        extra: Default::default(),
    };
    let index_bytes = serde_json::to_vec(&index).expect("index json");
    let index_digest = client
        .put_manifest(&r, OCI_INDEX, index_bytes.into())
        .await
        .expect("put index");

    let arm64 = client
        .resolve(&r, &Platform::parse("linux/arm64/v8").expect("platform"))
        .await
        .expect("resolve arm64");
    assert_eq!(
        (arm64.digest.clone(), arm64.raw.digest.clone()),
        (index_digest, arm_digest)
    );
    assert_eq!(arm64.manifest.layers[0].size, 2000);
    let amd64 = client
        .resolve(&r, &Platform::linux_amd64())
        .await
        .expect("resolve amd64");
    assert_eq!(amd64.raw.digest, amd_digest);
    let err = client
        .resolve(&r, &Platform::parse("linux/riscv64").expect("platform"))
        .await
        .expect_err("no riscv64");
    let msg = err.to_string();
    assert!(
        msg.contains("linux/riscv64") && msg.contains("linux/arm64"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_repository_manifest_and_blob_are_told_apart() {
    let reg = Registry::start(Auth::None);
    let client = RegistryClient::new(config());
    let r = reference(&reg, "exists:1");
    push_image(&client, &r, &TestImage::new(6, &[10])).await;
    let missing_tag = reference(&reg, "exists:nope");
    let err = client
        .resolve(&missing_tag, &Platform::linux_amd64())
        .await
        .expect_err("no such tag");
    assert!(
        matches!(&err, RegistryError::ManifestUnknown { reference, .. } if reference == "nope"),
        "{err}"
    );
    let missing_repo = reference(&reg, "nothing/here:1");
    let err = client
        .resolve(&missing_repo, &Platform::linux_amd64())
        .await
        .expect_err("no such repo");
    assert!(
        matches!(
            err,
            RegistryError::RepositoryUnknown { .. } | RegistryError::ManifestUnknown { .. }
        ),
        "{err}"
    );
    let ghost = Descriptor::new("x", Digest::of_bytes(b"ghost"), 5);
    let err = client
        .fetch_blob(&r.repo(), &ghost, &mut Vec::new())
        .await
        .expect_err("no such blob");
    assert!(matches!(err, RegistryError::BlobUnknown { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_resumes_with_range_after_the_connection_drops() {
    let reg = Registry::start(Auth::None);
    let direct = RegistryClient::new(config());
    let r = reference(&reg, "resume:1");
    let img = TestImage::new(7, &[1_500_000]);
    push_image(&direct, &r, &img).await;

    // Through a proxy that cuts the first response once 300 KB have passed.
    let proxy = Proxy::start(reg.addr, 300_000, 1, 0);
    let via = Reference::parse(&format!("{}/resume:1", proxy.addr)).expect("ref");
    let client = RegistryClient::new(config());
    let (desc, data) = &img.layers[0];
    let mut got = Vec::new();
    let stats = client
        .fetch_blob(&via.repo(), desc, &mut got)
        .await
        .expect("resumed download");
    assert_eq!(proxy.cuts_left(), 0, "the proxy never cut the stream");
    assert_eq!(stats.resumes, 1);
    assert!(got == *data, "resumed download differs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_503s_are_retried() {
    let reg = Registry::start(Auth::None);
    let proxy = Proxy::start(reg.addr, usize::MAX, 0, 2);
    let client = RegistryClient::new(config());
    let r = Reference::parse(&format!("{}/retry:1", proxy.addr)).expect("ref");
    let img = TestImage::new(8, &[1000]);
    push_image(&client, &r, &img).await;
    assert_eq!(proxy.failures_left(), 0, "the proxy never failed a request");
    assert!(client
        .blob_exists(&r.repo(), &img.layers[0].0.digest)
        .await
        .expect("head"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_blob_is_detected_and_nothing_is_kept() {
    let reg = Registry::start(Auth::None);
    let client = RegistryClient::new(config());
    let r = reference(&reg, "corrupt:1");
    let img = TestImage::new(9, &[20_000]);
    push_image(&client, &r, &img).await;
    let (desc, data) = &img.layers[0];
    let mut evil = data.clone();
    evil[1234] ^= 0xff;
    std::fs::write(reg.blob_data_path(&desc.digest), &evil).expect("corrupt the stored blob");

    let dir = tempfile::tempdir().expect("tempdir");
    let dest = dir.path().join("layer");
    let err = client
        .fetch_blob_to_path(&r.repo(), desc, &dest)
        .await
        .expect_err("corruption undetected");
    assert!(
        matches!(&err, RegistryError::DigestMismatch { expected, .. } if *expected == desc.digest.to_string()),
        "{err}"
    );
    assert!(
        err.to_string().contains("corrupt"),
        "error does not name the repository: {err}"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path()).expect("read dir").collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_upload_survives_a_connection_cut_mid_chunk() {
    let reg = Registry::start(Auth::None);
    let proxy = Proxy::start_with(reg.addr, 250_000, 0, 0, 1);
    let cfg = ClientConfig {
        monolithic_limit: 64 * 1024,
        chunk_size: 100 * 1024,
        ..config()
    };
    let client = RegistryClient::new(cfg);
    let r = Reference::parse(&format!("{}/cut/upload:1", proxy.addr)).expect("ref");
    let data = bytes(11, 350 * 1024 + 3);
    let desc = Descriptor::new(
        kiln_registry::manifest::OCI_LAYER_GZIP,
        Digest::of_bytes(&data),
        data.len() as u64,
    );
    client
        .push_blob(
            &r.repo(),
            &desc,
            &BlobSource::Bytes(data.clone().into()),
            None,
        )
        .await
        .expect("push through a cut");
    assert_eq!(
        proxy.upload_cuts_left(),
        0,
        "the proxy never cut the upload"
    );
    let mut got = Vec::new();
    RegistryClient::new(config())
        .fetch_blob(
            &Reference::parse(&format!("{}/cut/upload:1", reg.host()))
                .expect("ref")
                .repo(),
            &desc,
            &mut got,
        )
        .await
        .expect("read back");
    assert!(got == data, "blob changed by the interrupted upload");
}
