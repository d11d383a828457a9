//! Registries in builds (issue 7): `FROM` images the store lacks are pulled from their
//! registry, `--pull` re-resolves tags, `--push` and `--output type=image,push=true` send
//! the image to every name and the registry serves the digest the build reported.

mod build_registry_support;
mod build_support;

use build_registry_support::{remote_digest, Registry};
use build_support::{ran, Kiln};

fn empty_root() -> Kiln {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    Kiln { tmp, root }
}

fn context(k: &Kiln, name: &str, dockerfile: &str) -> String {
    let dir = k.path(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    dir.to_str().unwrap().to_string()
}

/// The `containerimage.digest` of a build, via `--metadata-file`.
fn built_digest(k: &Kiln, args: &[&str]) -> (Vec<serde_json::Value>, String) {
    let meta = k.path("meta.json");
    let mut all = vec!["--metadata-file", meta.to_str().unwrap()];
    all.extend_from_slice(args);
    let ev = k.build(&all);
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    (ev, m["containerimage.digest"].as_str().unwrap().to_string())
}

#[test]
fn from_pulls_missing_bases_and_pull_flag_re_resolves_tags() {
    let reg = Registry::start();
    let a = Kiln::with_busybox();
    let base = reg.name("base/busybox:1");
    a.ok(&["tag", "busybox:latest", &base]);
    a.ok(&["push", &base]);

    let b = empty_root();
    let ctx = context(&b, "ctx", &format!("FROM {base}\nRUN echo hi > /hi.txt\n"));
    let ev = b.build(&["-t", "app", &ctx]);
    assert_eq!(ran(&ev), vec!["RUN echo hi > /hi.txt".to_string()]);
    assert_eq!(b.sh("app", "cat /hi.txt"), "hi\n");
    assert!(
        b.ok(&["images"]).contains("base/busybox"),
        "the base was not stored"
    );

    // A re-tag of the same image is the same cache key: nothing runs.
    let alias = reg.name("alias/busybox:x");
    a.ok(&["tag", "busybox:latest", &alias]);
    a.ok(&["push", &alias]);
    let ctx2 = context(
        &b,
        "ctx2",
        &format!("FROM {alias}\nRUN echo hi > /hi.txt\n"),
    );
    assert!(ran(&b.build(&[&ctx2])).is_empty());

    // The tag moves to another image on the registry.
    let other = context(&a, "other", "FROM busybox\nRUN echo v2 > /v2.txt\n");
    a.build(&["-t", &base, &other]);
    a.ok(&["push", &base]);
    // Without --pull the stored image is used: cached.
    assert!(ran(&b.build(&[&ctx])).is_empty());
    // With --pull the tag is resolved again: the new base, so the RUN misses.
    let ev = b.build(&["--pull", "-t", "app", &ctx]);
    assert_eq!(ran(&ev), vec!["RUN echo hi > /hi.txt".to_string()]);
    assert_eq!(b.sh("app", "cat /v2.txt /hi.txt"), "v2\nhi\n");

    // A base that is nowhere fails the build, naming it.
    let missing = context(
        &b,
        "missing",
        &format!("FROM {}\n", reg.name("nope/none:1")),
    );
    let out = b.run(&["build", &missing]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nope/none"), "{err}");
}

#[test]
fn push_sends_the_image_to_every_name() {
    let reg = Registry::start();
    let k = Kiln::with_busybox();
    let ctx = context(&k, "ctx", "FROM busybox\nRUN echo pushed > /p.txt\n");
    let one = reg.name("team/app:1");
    let two = reg.name("other/app:2");
    // A pinned epoch makes the second build's image byte-identical (otherwise `created`
    // is the build's own second and two builds may straddle one).
    let epoch = "--build-arg=SOURCE_DATE_EPOCH=1700000000";
    let (_, digest) = built_digest(&k, &[epoch, "-t", &one, "-t", &two, "--push", &ctx]);
    assert_eq!(remote_digest(&one).as_deref(), Some(digest.as_str()));
    assert_eq!(remote_digest(&two).as_deref(), Some(digest.as_str()));

    // --output type=image,name=…,push=true: the output's name, tagged locally too.
    let three = reg.name("team/app:3");
    let out = format!("type=image,name={three},push=true");
    let (_, digest3) = built_digest(&k, &[epoch, "--output", &out, &ctx]);
    assert_eq!(digest3, digest, "same build, same image");
    assert_eq!(remote_digest(&three).as_deref(), Some(digest.as_str()));
    assert!(k.ok(&["images"]).contains("team/app"));

    // What was pushed runs elsewhere.
    let b = empty_root();
    b.ok(&["pull", &three]);
    assert_eq!(b.sh(&three, "cat /p.txt"), "pushed\n");

    // --push without a name says what to do.
    let out = k.run(&["build", "--push", &ctx]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("-t"));
}
