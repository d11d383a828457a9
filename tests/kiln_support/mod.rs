//! The one way the integration suites spawn `kiln`: a temp dir holding a store root,
//! `kiln --root ROOT ARGS…` with no ambient `KILN_ROOT`/`KILN_HOST`, success checks that
//! print what failed, and the busybox base image from testdata. build_support,
//! images_support (and through it runtime/network_support) and daemon_support build their
//! suite-specific helpers on this module, included with `#[path]`.
#![allow(dead_code)]

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The kiln binary under test, without the environment that would point it elsewhere.
pub fn kiln() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kiln"));
    c.env_remove("KILN_ROOT").env_remove("KILN_HOST");
    c
}

/// Run with stdin closed (so nothing waits on the test's terminal).
pub fn output(mut c: Command) -> Output {
    c.stdin(Stdio::null()).output().unwrap()
}

/// Require `out` to have succeeded; returns its stdout. The failure names `what`, the
/// exit status, both streams and any `more` the caller knows (e.g. a daemon log).
pub fn stdout_of(out: Output, what: impl Display, more: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}{more}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A free TCP port on 127.0.0.1 (the kernel's pick; released before returning).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A file under the repository's testdata/.
pub fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(rel)
}

/// A temp store: `tmp` is removed on drop (also when a test fails), `root` is the store.
pub struct Kiln {
    pub tmp: tempfile::TempDir,
    pub root: PathBuf,
}

impl Kiln {
    /// An empty store.
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        Kiln { tmp, root }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// `kiln --root ROOT ARGS…`.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = kiln();
        c.arg("--root").arg(&self.root).args(args);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        output(self.cmd(args))
    }

    /// Run and require success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        stdout_of(self.run(args), format_args!("kiln {args:?}"), "")
    }

    /// Load the busybox base image as busybox:latest.
    pub fn load_busybox(&self) {
        let archive = busybox_archive(self.tmp.path());
        let out = self.ok(&["load", "-i", archive.to_str().unwrap()]);
        assert_eq!(out.trim(), "Loaded image: busybox:latest");
    }
}

impl Drop for Kiln {
    fn drop(&mut self) {
        remove_networks(&self.root);
    }
}

/// Removes what networking made for the store at `root` outside its directory: the default
/// bridge and user networks (host links) and its nftables tables. `kiln run` puts every
/// container on the store's bridge, so any suite may have made them. Nothing to do for a
/// store that never networked. Containers must be gone first (a network in use stays).
pub fn remove_networks(root: &Path) {
    let settings = root.join("network").join("settings.json");
    let Ok(text) = std::fs::read_to_string(&settings) else {
        return;
    };
    let names: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let field = |k: &str| names[k].as_str().unwrap_or_default().to_string();
    let (bridge, table) = (field("bridge"), field("firewall_table"));
    let kiln_root = |args: &[&str]| {
        let mut c = kiln();
        c.arg("--root").arg(root).args(args);
        output(c)
    };
    let _ = kiln_root(&["network", "prune", "-f"]);
    let _ = kiln_root(&["network", "rm", "bridge"]);
    // Last resort when kiln itself failed.
    let quiet = |args: &[&str]| {
        let _ = Command::new(args[0])
            .args(&args[1..])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    };
    if !bridge.is_empty() && Path::new("/sys/class/net").join(&bridge).exists() {
        quiet(&["ip", "link", "del", &bridge]);
    }
    if !table.is_empty() {
        for family in ["inet", "bridge"] {
            quiet(&["nft", "delete", "table", family, &table]);
        }
    }
}

/// Make the busybox image archive (DIR/busybox.tar) with testdata/busybox-image.sh.
pub fn busybox_archive(dir: &Path) -> PathBuf {
    let out = dir.join("busybox.tar");
    if !out.exists() {
        let st = Command::new(testdata("busybox-image.sh"))
            .arg(&out)
            .status()
            .unwrap();
        assert!(st.success(), "busybox-image.sh failed");
    }
    out
}
