//! `kiln build --explain` and the `cache miss:` reason of each step that ran: changing,
//! one at a time, a selected file, an ARG in use, the base image and a step's text names
//! exactly that cause for the first step that re-ran (testdata/build/explain).

mod build_support;

use build_support::{events, Kiln};

/// (step name without its `[stage i/n]` prefix, reason) of every step that ran, in order.
fn reasons(events: &[serde_json::Value]) -> Vec<(String, String)> {
    let mut names = std::collections::HashMap::new();
    for e in events {
        if e["type"] == "started" {
            names.insert(
                e["vertex"].to_string(),
                e["name"].as_str().unwrap_or("").to_string(),
            );
        }
    }
    events
        .iter()
        .filter(|e| e["type"] == "explained")
        .map(|e| {
            let name = names
                .get(&e["vertex"].to_string())
                .cloned()
                .unwrap_or_default();
            let name = name
                .split_once("] ")
                .map(|(_, n)| n.to_string())
                .unwrap_or(name);
            (name, e["reason"].as_str().unwrap_or("").to_string())
        })
        .collect()
}

fn build(k: &Kiln, ctx: &std::path::Path, extra: &[&str]) -> Vec<(String, String)> {
    let mut args = vec!["-t", "ex"];
    args.extend_from_slice(extra);
    args.push(ctx.to_str().unwrap());
    reasons(&k.build(&args))
}

fn first(r: &[(String, String)]) -> (&str, &str) {
    let (n, why) = r.first().expect("a step re-ran");
    (n.as_str(), why.as_str())
}

#[test]
fn each_change_is_named_for_the_first_step_that_re_ran() {
    let k = Kiln::with_busybox();
    let ctx = k.copy_context("build/explain");
    let r = build(&k, &ctx, &[]);
    assert_eq!(
        first(&r),
        (
            "COPY src/main.rs /src/main.rs",
            "no earlier build of this step to compare with"
        )
    );
    // Nothing changed: nothing ran, nothing to explain.
    assert_eq!(build(&k, &ctx, &[]), []);
    // An unselected file does not matter; a selected one is named.
    std::fs::write(ctx.join("other.txt"), "edited").unwrap();
    assert_eq!(build(&k, &ctx, &[]), []);
    std::fs::write(ctx.join("src/main.rs"), "fn main() { edited() }\n").unwrap();
    let r = build(&k, &ctx, &[]);
    assert_eq!(
        first(&r),
        (
            "COPY src/main.rs /src/main.rs",
            "file src/main.rs changed (content)"
        )
    );
    assert_eq!(
        r[1],
        (
            "RUN echo \"version $VERSION\" > /version".to_string(),
            "previous step re-ran (COPY src/main.rs /src/main.rs)".to_string()
        )
    );
    // An ARG the RUN uses: the COPY before it stays cached.
    let r = build(&k, &ctx, &["--build-arg", "VERSION=1.3"]);
    assert_eq!(
        first(&r),
        (
            "RUN echo \"version $VERSION\" > /version",
            "ARG VERSION 1.2 → 1.3"
        )
    );
    assert_eq!(r.len(), 2, "{r:?}");
    // The base image: busybox now names another manifest.
    let other = k.path("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(
        other.join("Dockerfile"),
        "FROM busybox\nRUN touch /new-base\n",
    )
    .unwrap();
    k.build(&["-t", "newbase", other.to_str().unwrap()]);
    k.ok(&["tag", "newbase", "busybox"]);
    let r = build(&k, &ctx, &["--build-arg", "VERSION=1.3"]);
    let (step, why) = first(&r);
    assert_eq!(step, "COPY src/main.rs /src/main.rs");
    assert!(
        why.starts_with("base image docker.io/library/busybox:latest digest changed (sha256:"),
        "{why}"
    );
    // The step's own text.
    let df = std::fs::read_to_string(ctx.join("Dockerfile")).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        df.replace("echo \"version $VERSION\"", "echo \"v $VERSION\""),
    )
    .unwrap();
    let r = build(&k, &ctx, &["--build-arg", "VERSION=1.3"]);
    assert_eq!(
        first(&r),
        (
            "RUN echo \"v $VERSION\" > /version",
            "step text changed: RUN echo \"version $VERSION\" > /version → RUN echo \"v $VERSION\" > /version"
        )
    );
    // --no-cache says so for every step.
    let r = build(&k, &ctx, &["--no-cache", "--build-arg", "VERSION=1.3"]);
    assert!(
        r.len() >= 3 && r.iter().all(|(_, w)| w == "--no-cache"),
        "{r:?}"
    );
}

#[test]
fn explain_report_and_plain_progress_line() {
    let k = Kiln::with_busybox();
    let ctx = k.copy_context("build/explain");
    k.build(&["-t", "ex", ctx.to_str().unwrap()]);
    std::fs::write(ctx.join("src/main.rs"), "changed\n").unwrap();
    let out = k.run(&[
        "build",
        "--progress",
        "plain",
        "--explain",
        "-t",
        "ex",
        ctx.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.lines()
            .any(|l| l.starts_with('#')
                && l.ends_with("cache miss: file src/main.rs changed (content)")),
        "{err}"
    );
    assert!(err.contains("explain: steps that ran and why:"), "{err}");
    assert!(
        err.contains("    file src/main.rs changed (content)"),
        "{err}"
    );
    assert!(events(&out.stderr).is_empty());
    // Only the file list the last record names is kept.
    let lists: Vec<_> = std::fs::read_dir(k.root.join("build-state/explain"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .flat_map(|d| std::fs::read_dir(d).unwrap())
        .collect();
    assert_eq!(lists.len(), 1, "{lists:?}");
}
