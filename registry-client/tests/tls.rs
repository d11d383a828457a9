//! TLS registries: a registry serving https with a certificate from a test CA is trusted only
//! through Docker's `certs.d/<host:port>/ca.crt` layout.

mod common;

use common::{config, Auth, Registry, TestImage};
use kiln_registry::manifest::OCI_MANIFEST;
use kiln_registry::ReferenceExt;
use kiln_registry::{
    ClientConfig, Platform, PlatformExt, Reference, RegistryClient, RegistryError, TransportConfig,
};

const HOST: &str = "registry.kiln.test";

fn certificates() -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().expect("ca key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "kiln test CA");
    let ca = ca_params.self_signed(&ca_key).expect("ca cert");
    let key = rcgen::KeyPair::generate().expect("server key");
    let params = rcgen::CertificateParams::new(vec![HOST.to_string()]).expect("server params");
    let cert = params.signed_by(&key, &ca, &ca_key).expect("server cert");
    (ca.pem(), cert.pem(), key.serialize_pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_registry_trusted_through_certs_d() {
    let (ca, cert, key) = certificates();
    let reg = Registry::start_tls(Auth::None, Some((cert, key)));
    let host = format!("{HOST}:{}", reg.addr.port());
    let certs_dir = tempfile::tempdir().expect("certs dir");
    let transport = |certs: &std::path::Path| TransportConfig {
        certs_dir: certs.to_path_buf(),
        resolve: vec![(HOST.to_string(), reg.addr)],
        ..config().transport
    };
    let r = Reference::parse(&format!("{host}/secure/app:1")).expect("ref");
    let img = TestImage::new(30, &[2048]);

    // Without the CA the certificate is rejected.
    let untrusting = RegistryClient::new(ClientConfig {
        transport: transport(certs_dir.path()),
        ..config()
    });
    let err = untrusting
        .blob_exists(&r.repo(), &img.layers[0].0.digest)
        .await
        .expect_err("untrusted cert accepted");
    assert!(matches!(err, RegistryError::Unreachable { .. }), "{err}");

    let host_dir = certs_dir.path().join(&host);
    std::fs::create_dir_all(&host_dir).expect("mkdir");
    std::fs::write(host_dir.join("ca.crt"), ca).expect("ca.crt");
    let client = RegistryClient::new(ClientConfig {
        transport: transport(certs_dir.path()),
        ..config()
    });
    client
        .push_blobs(&r.repo(), &img.blobs(), None)
        .await
        .expect("push over https");
    client
        .put_manifest(&r, OCI_MANIFEST, img.manifest.clone().into())
        .await
        .expect("manifest over https");
    let resolved = client
        .resolve(&r, &Platform::linux_amd64())
        .await
        .expect("resolve over https");
    assert_eq!(resolved.manifest.layers[0].digest, img.layers[0].0.digest);
}
