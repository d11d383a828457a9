//! Graph digests change exactly when the work changes: edits to an instruction, a build
//! arg a RUN sees, ENV; and not for comments, blank lines, moved lines, unused stages or
//! undeclared build args. (Stability across processes is tested in `tests/cli_frontend.rs`.)

use std::collections::BTreeMap;

use kiln_frontend::compile::{compile, CompileOptions, NoImages};
use kiln_frontend::graph::Digest;

const BASE: &str = "FROM alpine AS build\nARG VERSION=1\nENV MODE=release\nWORKDIR /src\nCOPY . .\nRUN make VERSION=$VERSION\nFROM alpine AS docs\nRUN make docs\nFROM scratch\nCOPY --from=build /src/out /app\nCMD [\"/app\"]\n";

fn root_with(src: &str, build_args: &[(&str, &str)]) -> Digest {
    let build_args: BTreeMap<String, String> = build_args
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let opts = CompileOptions {
        build_args,
        ..CompileOptions::default()
    };
    compile("Dockerfile", src.as_bytes(), &opts, &NoImages)
        .unwrap_or_else(|e| panic!("{e}"))
        .root
}

fn root(src: &str) -> Digest {
    root_with(src, &[])
}

#[test]
fn same_input_same_digests() {
    let a = compile(
        "Dockerfile",
        BASE.as_bytes(),
        &CompileOptions::default(),
        &NoImages,
    )
    .unwrap();
    let b = compile(
        "other-name",
        BASE.as_bytes(),
        &CompileOptions::default(),
        &NoImages,
    )
    .unwrap();
    let da: Vec<_> = a.graph.vertices().map(|v| v.digest.clone()).collect();
    let db: Vec<_> = b.graph.vertices().map(|v| v.digest.clone()).collect();
    assert_eq!(da, db);
    assert_eq!(a.root, b.root);
}

#[test]
fn digests_ignore_layout_and_unused_stages() {
    let base = root(BASE);
    let commented = BASE.replace("RUN make VERSION", "# build it\n\nRUN make VERSION");
    assert_eq!(root(&commented), base, "comments and blank lines");
    let continued = BASE.replace(
        "RUN make VERSION=$VERSION",
        "RUN make \\\n    VERSION=$VERSION",
    );
    assert_ne!(
        root(&continued),
        base,
        "a continuation changes the command text (extra spaces)"
    );
    let moved = BASE
        .replace("FROM alpine AS docs\nRUN make docs\n", "")
        .replace(
            "FROM scratch",
            "FROM alpine AS docs\nRUN make docs\nFROM scratch",
        );
    assert_eq!(root(&moved), base, "moving lines");
    assert_eq!(
        root(&BASE.replace("make docs", "make manual")),
        base,
        "editing an unused stage"
    );
    assert_eq!(
        root_with(BASE, &[("UNDECLARED", "x")]),
        base,
        "an undeclared build arg"
    );
    assert_eq!(
        root_with(BASE, &[("HTTPS_PROXY", "http://p")]),
        base,
        "a proxy build arg"
    );
}

#[test]
fn digests_change_with_the_work() {
    let base = root(BASE);
    let changed = [
        root(&BASE.replace("make VERSION", "make -j4 VERSION")),
        root_with(BASE, &[("VERSION", "2")]),
        root(&BASE.replace("ARG VERSION=1", "ARG VERSION=3")),
        root(&BASE.replace("MODE=release", "MODE=debug")),
        root(
            &BASE
                .replace("WORKDIR /src", "WORKDIR /src2")
                .replace("/src/out", "/src2/out"),
        ),
        root(&BASE.replace("COPY . .", "COPY src/ .")),
        root(&BASE.replace("FROM alpine AS build", "FROM alpine:3.19 AS build")),
        root(&BASE.replace("/app\nCMD", "/application\nCMD")),
    ];
    for (i, d) in changed.iter().enumerate() {
        assert_ne!(*d, base, "change {i} should change the root digest");
    }
    // Config-only instructions change the image config, not the filesystem graph.
    assert_eq!(
        root(&BASE.replace("CMD [\"/app\"]", "CMD [\"/app\", \"-v\"]")),
        base
    );
}
