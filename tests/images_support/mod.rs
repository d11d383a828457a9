//! Helpers for the image command tests: a temp store root, running `kiln` against it, and
//! the busybox base image archive from testdata.
#![allow(dead_code)]

#[path = "../kiln_support/mod.rs"]
mod kiln_support;

#[allow(unused_imports)] // each suite uses its own part
pub use kiln_support::{busybox_archive, Kiln};
use std::process::Command;

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
