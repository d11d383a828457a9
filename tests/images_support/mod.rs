//! Helpers for the image command tests: a temp store root, running `kiln` against it, and
//! the busybox base image archive from testdata.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub struct Kiln {
    pub tmp: tempfile::TempDir,
    pub root: PathBuf,
}

impl Kiln {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        Kiln { tmp, root }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kiln"));
        c.arg("--root")
            .arg(&self.root)
            .args(args)
            .env_remove("KILN_ROOT");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).stdin(Stdio::null()).output().unwrap()
    }

    /// Run and require success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kiln {args:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Load the busybox base image as busybox:latest.
    pub fn load_busybox(&self) {
        let archive = busybox_archive(self.tmp.path());
        let out = self.ok(&["load", "-i", archive.to_str().unwrap()]);
        assert_eq!(out.trim(), "Loaded image: busybox:latest");
    }
}

/// Make the busybox image archive with testdata/busybox-image.sh.
pub fn busybox_archive(dir: &Path) -> PathBuf {
    let out = dir.join("busybox.tar");
    if !out.exists() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/busybox-image.sh");
        let st = Command::new(script).arg(&out).status().unwrap();
        assert!(st.success(), "busybox-image.sh failed");
    }
    out
}

/// Run an external tool, requiring success; returns stdout.
pub fn tool(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} not runnable ({e}); .ci/run installs it"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
