//! Test harness: a real `docker-registry` process (no auth, htpasswd, or token auth), a token
//! issuer, and a TCP proxy that cuts one response mid-stream. Every process and task is torn
//! down on drop, also when a test fails.

#![allow(dead_code)]

pub mod proxy;
pub mod token;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kiln_registry::manifest::{DOCKER_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST};
use kiln_registry::{
    ClientConfig, Descriptor, Digest, ImageManifest, RetryPolicy, TransportConfig,
};

pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

pub enum Auth {
    None,
    /// htpasswd Basic auth with one user.
    Htpasswd {
        user: String,
        password: String,
    },
    /// Bearer tokens from an issuer whose certificate the registry trusts.
    Token {
        realm: String,
        service: String,
        issuer: String,
        cert_pem: String,
    },
}

/// A running registry; killed and its storage removed on drop.
pub struct Registry {
    child: Child,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
}

impl Registry {
    pub fn start(auth: Auth) -> Registry {
        Self::start_tls(auth, None)
    }

    /// With `tls = Some((cert_pem, key_pem))` the registry serves https only.
    pub fn start_tls(auth: Auth, tls: Option<(String, String)>) -> Registry {
        let dir = tempfile::tempdir().expect("registry tempdir");
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).expect("storage dir");
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let auth_yaml = match &auth {
            Auth::None => String::new(),
            Auth::Htpasswd { user, password } => {
                let hash = bcrypt::hash(password, 4).expect("bcrypt");
                let path = dir.path().join("htpasswd");
                std::fs::write(&path, format!("{user}:{hash}\n")).expect("htpasswd");
                format!(
                    "auth:\n  htpasswd:\n    realm: kiln-test\n    path: {}\n",
                    path.display()
                )
            }
            Auth::Token {
                realm,
                service,
                issuer,
                cert_pem,
            } => {
                let path = dir.path().join("token-ca.pem");
                std::fs::write(&path, cert_pem).expect("cert");
                format!(
                    "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {}\n",
                    path.display()
                )
            }
        };
        let tls_yaml = match tls {
            None => String::new(),
            Some((cert, key)) => {
                let (cp, kp) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
                std::fs::write(&cp, cert).expect("tls cert");
                std::fs::write(&kp, key).expect("tls key");
                format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    cp.display(),
                    kp.display()
                )
            }
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n  secret: kiln-test-secret\n{tls_yaml}{auth_yaml}",
            storage.display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("config");
        let log = std::fs::File::create(dir.path().join("registry.log")).expect("log");
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start docker-registry (apt-get install docker-registry)");
        let reg = Registry { child, addr, dir };
        reg.wait_ready();
        reg
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if TcpStream::connect(self.addr).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default();
        panic!(
            "docker-registry did not listen on {} within 20s; log:\n{log}",
            self.addr
        );
    }

    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Where the registry's filesystem driver keeps a blob's bytes.
    pub fn blob_data_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.dir.path().join(format!(
            "storage/docker/registry/v2/blobs/sha256/{}/{hex}/data",
            &hex[..2]
        ))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("local addr").port()
}

/// A client with no ambient credentials and quick retries.
pub fn config() -> ClientConfig {
    ClientConfig {
        transport: TransportConfig {
            retry: RetryPolicy {
                max_attempts: 4,
                initial_backoff: Duration::from_millis(20),
                max_backoff: Duration::from_millis(200),
            },
            ..TransportConfig::default()
        },
        credentials: None,
        ..ClientConfig::default()
    }
}

/// Deterministic pseudo-random bytes (incompressible, distinct per seed).
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x & 0xff) as u8
        })
        .collect()
}

/// A test image: config and layers as blobs, plus the manifest that lists them.
pub struct TestImage {
    pub config: (Descriptor, Vec<u8>),
    pub layers: Vec<(Descriptor, Vec<u8>)>,
    pub manifest: Vec<u8>,
}

impl TestImage {
    pub fn new(seed: u64, layer_sizes: &[usize]) -> TestImage {
        let config_bytes = format!(
            r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}},"config":{{"Env":["SEED={seed}"]}}}}"#
        )
        .into_bytes();
        let config = (
            Descriptor::new(
                DOCKER_CONFIG,
                Digest::of_bytes(&config_bytes),
                config_bytes.len() as u64,
            ),
            config_bytes,
        );
        let layers: Vec<_> = layer_sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let data = bytes(seed * 100 + i as u64, n);
                (
                    Descriptor::new(OCI_LAYER_GZIP, Digest::of_bytes(&data), n as u64),
                    data,
                )
            })
            .collect();
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.to_string()),
            config: config.0.clone(),
            layers: layers.iter().map(|(d, _)| d.clone()).collect(),
            annotations: Default::default(),
            extra: Default::default(),
        };
        let manifest = serde_json::to_vec(&manifest).expect("manifest json");
        TestImage {
            config,
            layers,
            manifest,
        }
    }

    pub fn blobs(&self) -> Vec<(Descriptor, kiln_registry::BlobSource)> {
        std::iter::once(&self.config)
            .chain(self.layers.iter())
            .map(|(d, b)| {
                (
                    d.clone(),
                    kiln_registry::BlobSource::Bytes(b.clone().into()),
                )
            })
            .collect()
    }
}

pub fn read_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default()
}
