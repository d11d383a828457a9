//! Helpers for the build and run tests: a temp store root with the busybox base image
//! loaded, `kiln` against it, progress events from `--progress rawjson`, and copies of
//! testdata contexts to edit. Everything lives in one temp dir removed on drop (also when
//! a test fails); kiln unmounts what it mounts itself.
#![allow(dead_code)]

#[path = "../kiln_support/mod.rs"]
pub mod kiln_support;

#[allow(unused_imports)] // each suite uses its own part
pub use kiln_support::{testdata, Kiln};
use std::path::PathBuf;
use std::process::Command;

impl Kiln {
    /// A fresh store with busybox:latest loaded.
    pub fn with_busybox() -> Kiln {
        let k = Kiln::new();
        k.load_busybox();
        k
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
