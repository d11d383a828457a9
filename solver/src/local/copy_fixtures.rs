//! Fixtures shared by the COPY tests (`copy_tests.rs`, `copy_layer_tests.rs`): a COPY with
//! Docker's defaults, files to copy from, and a context source over them.

use std::fs;
use std::path::Path;

use kiln_frontend::graph::Copy;

use super::copy::CopySource;
use crate::context::Matcher;

/// `COPY src dest` with the defaults of a plain Dockerfile COPY.
pub(super) fn cp(src: &str, dest: &str) -> Copy {
    Copy {
        input: 1,
        src: src.into(),
        dest: dest.into(),
        owner: None,
        mode: None,
        follow_symlinks: true,
        dir_contents_only: true,
        allow_wildcard: true,
        allow_empty_wildcard: true,
        create_dest_path: true,
        unpack_archives: false,
        parents: false,
        exclude: Vec::new(),
    }
}

/// Write `data` to `root/rel`, creating the directories above it.
pub(super) fn write(root: &Path, rel: &str, data: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, data).unwrap();
}

/// Write each (path, data) under `root`.
pub(super) fn tree(root: &Path, files: &[(&str, &str)]) {
    for (p, data) in files {
        write(root, p, data);
    }
}

/// The build context at `root` with `ignore` as its `.dockerignore`.
pub(super) fn source<'a>(root: &'a Path, ignore: &str) -> CopySource<'a> {
    CopySource {
        root,
        excludes: Matcher::from_dockerignore(ignore, ".dockerignore").unwrap(),
        exclude: Matcher::default(),
        from_context: true,
    }
}
