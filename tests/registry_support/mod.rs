//! A real `docker-registry` for the tests that pull from or push to a registry: started on
//! a free loopback port with a temp storage dir, killed on drop (also when a test fails).
//! Shared by every suite that needs one, so the config and the start-up wait live once.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How the registry is configured; `Default` is unauthenticated without deletes.
#[derive(Clone, Copy, Default)]
pub struct RegistryOptions<'a> {
    /// `(user, password)` for htpasswd (basic) auth.
    pub htpasswd: Option<(&'a str, &'a str)>,
    /// Allow `DELETE` of manifests and blobs.
    pub delete: bool,
}

/// A `docker-registry` process on a free loopback port; killed on drop.
pub struct Registry {
    child: Child,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// An unauthenticated registry.
    pub fn start() -> Registry {
        Registry::start_with(RegistryOptions::default())
    }

    pub fn start_with(opts: RegistryOptions<'_>) -> Registry {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let auth = match opts.htpasswd {
            None => String::new(),
            Some((user, password)) => {
                let path = dir.path().join("htpasswd");
                std::fs::write(
                    &path,
                    format!("{user}:{}\n", bcrypt::hash(password, 4).expect("bcrypt")),
                )
                .expect("htpasswd");
                format!(
                    "auth:\n  htpasswd:\n    realm: kiln\n    path: {}\n",
                    path.display()
                )
            }
        };
        let delete = if opts.delete {
            "  delete:\n    enabled: true\n"
        } else {
            ""
        };
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n{delete}http:\n  addr: {addr}\n  secret: kiln-test\n{auth}",
                dir.path().join("storage").display()
            ),
        )
        .expect("config");
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry (apt-get install docker-registry)");
        // Built before the wait so that Drop kills the process if the wait fails.
        let reg = Registry {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not start on {addr}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        reg
    }

    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `registry/name`, e.g. `127.0.0.1:5000/team/app:1`.
    pub fn name(&self, name: &str) -> String {
        format!("{}/{name}", self.host())
    }

    /// The largest blob the registry stores (an image's layer) as (`sha256:…` digest, path
    /// of its bytes in the filesystem driver's layout), for tests that corrupt a download.
    pub fn largest_blob(&self) -> (String, std::path::PathBuf) {
        let blobs = self
            ._dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256");
        let mut all = Vec::new();
        for prefix in std::fs::read_dir(&blobs).expect("registry blob dir") {
            for blob in std::fs::read_dir(prefix.unwrap().path()).unwrap() {
                let blob = blob.unwrap();
                let data = blob.path().join("data");
                let size = std::fs::metadata(&data).map_or(0, |m| m.len());
                let hex = blob.file_name().to_string_lossy().into_owned();
                all.push((size, format!("sha256:{hex}"), data));
            }
        }
        let best = all.into_iter().max_by_key(|(size, ..)| *size);
        let (_, digest, path) = best.expect("the registry stores no blob");
        (digest, path)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
