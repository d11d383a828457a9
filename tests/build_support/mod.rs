//! Helpers for the build and run tests: a temp store root with the busybox base image
//! loaded, `kiln` against it, progress events from `--progress rawjson`, and copies of
//! testdata contexts to edit. Everything lives in one temp dir removed on drop (also when
//! a test fails); kiln unmounts what it mounts itself.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub struct Kiln {
    pub tmp: tempfile::TempDir,
    pub root: PathBuf,
}

pub fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(rel)
}

impl Kiln {
    /// A fresh store with busybox:latest loaded.
    pub fn with_busybox() -> Kiln {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let k = Kiln { tmp, root };
        let archive = k.path("busybox.tar");
        let st = Command::new(testdata("busybox-image.sh"))
            .arg(&archive)
            .status()
            .unwrap();
        assert!(st.success(), "busybox-image.sh failed");
        k.ok(&["load", "-i", archive.to_str().unwrap()]);
        k
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

    /// `kiln build --progress rawjson ARGS…`, required to succeed; returns the events.
    pub fn build(&self, args: &[&str]) -> Vec<serde_json::Value> {
        let mut all = vec!["build", "--progress", "rawjson"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        assert!(
            out.status.success(),
            "kiln {all:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        events(&out.stderr)
    }

    /// Output of `kiln run --rm IMAGE CMD…` (required to succeed).
    pub fn sh(&self, image: &str, script: &str) -> String {
        self.ok(&["run", "--rm", image, "sh", "-c", script])
    }

    pub fn inspect(&self, image: &str) -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(&self.ok(&["inspect", image])).unwrap();
        v[0].clone()
    }

    /// A writable copy of a testdata context.
    pub fn copy_context(&self, rel: &str) -> PathBuf {
        let dest = self.path(rel.replace('/', "-").as_str());
        let st = Command::new("cp")
            .arg("-a")
            .arg(testdata(rel))
            .arg(&dest)
            .status()
            .unwrap();
        assert!(st.success());
        dest
    }
}

/// The JSON events of a rawjson progress stream (other lines ignored).
pub fn events(stderr: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Names of the steps that ran (had a `started` event), sorted.
/// The instructions of the steps that ran, without BuildKit's `[stage i/n] ` prefix.
pub fn ran(events: &[serde_json::Value]) -> Vec<String> {
    let mut v: Vec<String> = events
        .iter()
        .filter(|e| e["type"] == "started")
        .filter_map(|e| e["name"].as_str().map(strip_step_prefix))
        .collect();
    v.sort();
    v
}

fn strip_step_prefix(name: &str) -> String {
    match name
        .strip_prefix('[')
        .and_then(|rest| rest.split_once("] "))
    {
        Some((_, instruction)) => instruction.to_string(),
        None => name.to_string(),
    }
}

/// Docker pairs history entries that are not `empty_layer` with layers, in order: their
/// counts must match.
pub fn assert_history_matches_layers(img: &serde_json::Value) {
    let layers = img["RootFS"]["Layers"].as_array().map_or(0, Vec::len);
    let history = img["History"].as_array().cloned().unwrap_or_default();
    let non_empty = history.iter().filter(|h| h["empty_layer"] != true).count();
    assert_eq!(
        layers, non_empty,
        "layers vs history entries with layers: {img}"
    );
}
