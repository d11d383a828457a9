//! Helpers for the build and run tests: a temp store root with the busybox base image
//! loaded, `kiln` against it, progress events from `--progress rawjson`, and copies of
//! testdata contexts to edit. Everything lives in one temp dir removed on drop (also when
//! a test fails); kiln unmounts what it mounts itself.
#![allow(dead_code)]

#[path = "../kiln_support/mod.rs"]
pub mod kiln_support;

#[allow(unused_imports)] // each suite uses its own part
pub use kiln_support::{testdata, Kiln};
use std::path::{Path, PathBuf};
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

/// Write `data` to `dir/rel`, creating the directories above it.
pub fn write(dir: &Path, rel: &str, data: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

/// The layer digests of an `inspect` result, bottom first.
pub fn layers(img: &serde_json::Value) -> Vec<String> {
    img["RootFS"]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect()
}

impl Kiln {
    /// `COPY --link` survives a change of its base: builds image `linked` from `ctx`
    /// (whose Dockerfile starts `FROM linkbase` and holds a step named `step`) on a base
    /// with `/marker` = 1, rebuilds the base with 2 and the image again, and asserts the
    /// base layer changed while the top (link) layer is the same blob and `step` was cached.
    pub fn assert_link_layer_reused_on_new_base(&self, ctx: &Path, step: &str) {
        write(
            ctx,
            "base.Dockerfile",
            "FROM busybox\nARG V\nRUN echo $V > /marker\n",
        );
        let c = ctx.to_str().unwrap();
        let base_file = ctx.join("base.Dockerfile");
        let base_file = base_file.to_str().unwrap();
        self.build(&["-t", "linkbase", "--build-arg", "V=1", "-f", base_file, c]);
        self.build(&["-t", "linked", c]);
        let first = layers(&self.inspect("linked"));

        self.build(&["-t", "linkbase", "--build-arg", "V=2", "-f", base_file, c]);
        let events = self.build(&["-t", "linked", c]);
        let second = layers(&self.inspect("linked"));
        assert_eq!(first.len(), second.len());
        assert_ne!(first[first.len() - 2], second[second.len() - 2], "new base");
        assert_eq!(first.last(), second.last(), "the --link layer is re-used");
        // The copy itself comes from the cache; only its merge onto the new base runs.
        let step_cached = events
            .iter()
            .any(|e| e["type"] == "cached" && e["name"].as_str().is_some_and(|n| n.contains(step)));
        assert!(step_cached, "{step} re-ran: {events:#?}");
    }
}
