//! `--explain` after a failed build: the steps the failed build completed, and the one that
//! failed, update the record, so the next build explains against what last ran.

mod build_support;

use build_support::{events, Kiln};

const DOCKERFILE: &str = "FROM busybox\n\
COPY a.txt /a.txt\n\
RUN test \"$(cat /a.txt)\" = good\n\
RUN echo after > /after\n";

/// (instruction, reason) of every step that ran, from a rawjson stream.
fn reasons(evs: &[serde_json::Value]) -> Vec<(String, String)> {
    let name_of = |v: &serde_json::Value| {
        evs.iter()
            .find(|e| e["type"] == "started" && e["vertex"] == *v)
            .and_then(|e| e["name"].as_str())
            .map(|n| n.split_once("] ").map_or(n, |(_, i)| i).to_string())
            .unwrap_or_default()
    };
    evs.iter()
        .filter(|e| e["type"] == "explained")
        .map(|e| {
            let why = e["reason"].as_str().unwrap_or_default().to_string();
            (name_of(&e["vertex"]), why)
        })
        .collect()
}

/// Build `ctx`; returns (succeeded, reasons).
fn build(k: &Kiln, ctx: &std::path::Path) -> (bool, Vec<(String, String)>) {
    let out = k.run(&[
        "build",
        "--progress",
        "rawjson",
        "-t",
        "exf",
        ctx.to_str().unwrap(),
    ]);
    (out.status.success(), reasons(&events(&out.stderr)))
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_string(), b.to_string())
}

#[test]
fn a_failed_build_updates_the_explain_record() {
    let k = Kiln::with_busybox();
    let ctx = k.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), DOCKERFILE).unwrap();
    std::fs::write(ctx.join("a.txt"), "good\n").unwrap();
    let (ok, _) = build(&k, &ctx);
    assert!(ok, "the first build succeeds");

    // The file changes and the RUN that checks it fails.
    std::fs::write(ctx.join("a.txt"), "bad\n").unwrap();
    let (ok, r) = build(&k, &ctx);
    assert!(!ok, "the check fails: {r:?}");
    assert_eq!(
        r,
        [
            pair("COPY a.txt /a.txt", "file a.txt changed (content)"),
            pair(
                "RUN test \"$(cat /a.txt)\" = good",
                "previous step re-ran (COPY a.txt /a.txt)"
            ),
        ]
    );

    // Again, unchanged: the COPY comes from the cache; the failing step is explained
    // against the failed attempt (same inputs, it failed), not the last good build.
    let (ok, r) = build(&k, &ctx);
    assert!(!ok);
    assert_eq!(
        r,
        [pair(
            "RUN test \"$(cat /a.txt)\" = good",
            "same inputs as the last build, where this step failed (nothing to reuse)"
        )]
    );

    // Fixing the step's text: named against the text that last ran; the step after it
    // was never reached since the good build, and re-runs because its input did.
    let df = DOCKERFILE.replace("= good", "= bad");
    std::fs::write(ctx.join("Dockerfile"), df).unwrap();
    let (ok, r) = build(&k, &ctx);
    assert!(ok, "{r:?}");
    assert_eq!(
        r,
        [
            pair(
                "RUN test \"$(cat /a.txt)\" = bad",
                "step text changed: RUN test \"$(cat /a.txt)\" = good → RUN test \"$(cat /a.txt)\" = bad"
            ),
            pair(
                "RUN echo after > /after",
                "previous step re-ran (RUN test \"$(cat /a.txt)\" = bad)"
            ),
        ]
    );
    // A successful build replaces the record: nothing left marked as failed.
    let (ok, r) = build(&k, &ctx);
    assert!(ok && r.is_empty(), "{r:?}");
    let dir = k.root.join("build-state/explain");
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            let text = std::fs::read_to_string(&p).unwrap();
            assert!(!text.contains("\"failed\""), "{text}");
        }
    }
}
