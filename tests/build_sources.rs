//! Remote build sources end to end: `ADD <url>` against a loopback HTTP server (checksums,
//! Last-Modified as mtime, --chmod, ETag revalidation), `ADD <git repo>#ref:subdir` from a
//! loopback `git daemon`, and ONBUILD triggers of a base image.

mod build_sources_support;
mod build_support;

use std::process::Command;

use build_sources_support::{git, File, GitDaemon, HttpServer};
use build_support::{assert_history_matches_layers, ran, testdata, Kiln};

fn ctx(rel: &str) -> String {
    testdata(rel).to_str().unwrap().to_string()
}

fn sha256(data: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f");
    std::fs::write(&p, data).unwrap();
    let out = Command::new("sha256sum").arg(&p).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    format!("sha256:{}", text.split_whitespace().next().unwrap())
}

fn file(body: &str, etag: Option<&str>, last_modified: Option<&str>) -> File {
    File {
        body: body.as_bytes().to_vec(),
        etag: etag.map(str::to_string),
        last_modified: last_modified.map(str::to_string),
    }
}

#[test]
fn add_url_downloads_pins_and_revalidates() {
    let k = Kiln::with_busybox();
    let srv = HttpServer::start();
    // 1445412480 = Wed, 21 Oct 2015 07:28:00 GMT
    srv.put(
        "/files/hello.txt",
        file(
            "hello over http\n",
            Some("\"v1\""),
            Some("Wed, 21 Oct 2015 07:28:00 GMT"),
        ),
    );
    let pinned = "pinned bytes\n";
    srv.put("/files/pinned.bin", file(pinned, None, None));
    srv.put(
        "/files/tool.sh",
        file("#!/bin/sh\necho tool ran\n", None, None),
    );
    let base = format!("BASE={}", srv.base);
    let sum = format!("PINNED_SUM={}", sha256(pinned.as_bytes()));
    let build = |tag: &str| {
        k.build(&[
            "-t",
            tag,
            "--build-arg",
            &base,
            "--build-arg",
            &sum,
            &ctx("build/add-url"),
        ])
    };
    build("urls:1");
    assert_eq!(k.sh("urls:1", "cat /data/hello.txt"), "hello over http\n");
    assert_eq!(k.sh("urls:1", "cat /data/pinned.bin"), pinned);
    assert_eq!(k.sh("urls:1", "tool"), "tool ran\n");
    // Mode 0600 by default (BuildKit), --chmod wins; mtime from Last-Modified, else 0.
    assert_eq!(
        k.sh("urls:1", "cat /stat.txt"),
        "600 1445412480 /data/hello.txt\n600 0 /data/pinned.bin\n755 0 /usr/local/bin/tool\n"
    );
    // --chown names resolve in the image's passwd and group.
    assert_eq!(
        k.sh("urls:1", "stat -c '%U:%G %a' /owned/hello.txt"),
        "www-data:users 600\n"
    );
    assert_history_matches_layers(&k.inspect("urls:1"));
    assert_eq!(srv.served("/files/hello.txt"), vec![200]);
    assert_eq!(srv.served("/files/pinned.bin"), vec![200]);

    // Unchanged: the ETag is revalidated (304, no body), the pinned file is not fetched
    // at all, and every step is cached.
    let events = build("urls:2");
    assert!(
        !ran(&events)
            .iter()
            .any(|s| s.starts_with("ADD") || s.starts_with("RUN")),
        "steps re-ran: {:?}",
        ran(&events)
    );
    assert_eq!(srv.served("/files/hello.txt"), vec![200, 304]);
    assert_eq!(srv.served("/files/pinned.bin"), vec![200]);

    // New content: that ADD and what follows re-run (later ADDs too: their base changed),
    // but the pinned download is not fetched again: its source is cached by checksum.
    srv.put(
        "/files/hello.txt",
        file(
            "hello again\n",
            Some("\"v2\""),
            Some("Thu, 22 Oct 2015 07:28:00 GMT"),
        ),
    );
    let events = build("urls:3");
    let steps = ran(&events);
    assert!(steps.iter().any(|s| s.contains("hello.txt")), "{steps:?}");
    assert_eq!(srv.served("/files/hello.txt"), vec![200, 304, 200]);
    assert_eq!(srv.served("/files/pinned.bin"), vec![200]);
    assert_eq!(k.sh("urls:3", "cat /data/hello.txt"), "hello again\n");
    assert!(k
        .sh("urls:3", "cat /stat.txt")
        .starts_with("600 1445498880 /data/hello.txt\n"));
}

#[test]
fn add_url_checksum_mismatch_names_url_and_digests() {
    let k = Kiln::with_busybox();
    let srv = HttpServer::start();
    let body = "not what you pinned\n";
    srv.put("/files/pinned.bin", file(body, None, None));
    let base = format!("BASE={}", srv.base);
    let df = testdata("build/add-url/bad-checksum.Dockerfile");
    let out = k.run(&[
        "build",
        "--progress",
        "plain",
        "--build-arg",
        &base,
        "-f",
        df.to_str().unwrap(),
        &ctx("build/add-url"),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let url = format!("{}/files/pinned.bin", srv.base);
    assert!(err.contains(&url), "{err}");
    assert!(err.contains(&format!("sha256:{}", "0".repeat(64))), "{err}");
    assert!(err.contains(&sha256(body.as_bytes())), "{err}");
    assert!(err.contains("checksum mismatch"), "{err}");
}

/// A bare repository `repo.git` under `dir` with two commits on main (tag v1 on the first).
fn make_repo(dir: &std::path::Path) -> std::path::PathBuf {
    let work = dir.join("work");
    std::fs::create_dir_all(work.join("app")).unwrap();
    git(&work, &["init", "-q"]);
    std::fs::write(work.join("README"), "readme v1\n").unwrap();
    std::fs::write(work.join("app/main.sh"), "#!/bin/sh\necho v1\n").unwrap();
    let st = Command::new("chmod")
        .args(["755", work.join("app/main.sh").to_str().unwrap()])
        .status()
        .unwrap();
    assert!(st.success());
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "one"]);
    git(&work, &["tag", "-a", "v1", "-m", "version 1"]);
    std::fs::write(work.join("app/main.sh"), "#!/bin/sh\necho v2\n").unwrap();
    git(&work, &["commit", "-q", "-am", "two"]);
    let bare = dir.join("repo.git");
    git(
        dir,
        &[
            "clone",
            "-q",
            "--bare",
            work.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    work
}

#[test]
fn add_git_repository_at_refs_and_subdirs() {
    let k = Kiln::with_busybox();
    let repos = k.path("repos");
    std::fs::create_dir_all(&repos).unwrap();
    let work = make_repo(&repos);
    let daemon = GitDaemon::start(&repos);
    let arg = format!("REPO={}/repo.git", daemon.base);
    let build = |tag: &str| k.build(&["-t", tag, "--build-arg", &arg, &ctx("build/git")]);
    build("gitsrc:1");
    // #v1:app is the tag's app/ directory, executable bit kept.
    assert_eq!(k.sh("gitsrc:1", "/v1/main.sh"), "v1\n");
    assert_eq!(k.sh("gitsrc:1", "stat -c %a /v1/main.sh"), "755\n");
    assert_eq!(k.sh("gitsrc:1", "cat /main/README"), "readme v1\n");
    assert_eq!(k.sh("gitsrc:1", "/main/app/main.sh"), "v2\n");
    // No .git unless --keep-git-dir; with it, the checkout is a repository at that commit.
    assert_eq!(
        k.sh("gitsrc:1", "test -e /main/.git && echo yes || echo no"),
        "no\n"
    );
    let head = git(&work, &["rev-parse", "HEAD"]);
    assert_eq!(k.sh("gitsrc:1", "cat /withgit/.git/HEAD"), head);
    // Files carry the commit time, so the layer does not depend on when it was fetched.
    let time = git(&work, &["log", "-1", "--format=%ct"]);
    assert_eq!(k.sh("gitsrc:1", "stat -c %Y /main/README"), time);
    assert_history_matches_layers(&k.inspect("gitsrc:1"));

    // Unchanged refs: all cached.
    let events = build("gitsrc:2");
    assert!(
        !ran(&events).iter().any(|s| s.starts_with("ADD")),
        "{:?}",
        ran(&events)
    );

    // main moves: its ADDs re-run; the tag's stays cached.
    std::fs::write(work.join("README"), "readme v3\n").unwrap();
    git(&work, &["commit", "-q", "-am", "three"]);
    let bare = repos.join("repo.git");
    git(&work, &["push", "-q", bare.to_str().unwrap(), "main"]);
    let events = build("gitsrc:3");
    let steps = ran(&events);
    assert!(
        steps.iter().any(|s| s.contains("#main /main/")),
        "{steps:?}"
    );
    assert!(!steps.iter().any(|s| s.contains("#v1:app")), "{steps:?}");
    assert_eq!(k.sh("gitsrc:3", "cat /main/README"), "readme v3\n");

    // A ref the repository lacks fails the build, naming the ref and the repository.
    let df = testdata("build/git/bad-ref.Dockerfile");
    let out = k.run(&[
        "build",
        "--progress",
        "plain",
        "--build-arg",
        &arg,
        "-f",
        df.to_str().unwrap(),
        &ctx("build/git"),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no ref \"no-such-branch\""), "{err}");
    assert!(err.contains(&format!("{}/repo.git", daemon.base)), "{err}");

    // --checksum pins the commit: the tag's own commit builds, another one is refused.
    let df = testdata("build/git/pinned.Dockerfile");
    let pinned = |pin: &str| {
        let pin_arg = format!("PIN={pin}");
        k.run(&[
            "build",
            "--progress",
            "plain",
            "--build-arg",
            &arg,
            "--build-arg",
            &pin_arg,
            "-t",
            "gitsrc:pinned",
            "-f",
            df.to_str().unwrap(),
            &ctx("build/git"),
        ])
    };
    let v1 = git(&work, &["rev-parse", "v1^{commit}"]);
    let out = pinned(v1.trim());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(k.sh("gitsrc:pinned", "/pinned/main.sh"), "v1\n");
    let out = pinned(head.trim());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("checksum mismatch"), "{err}");
    assert!(err.contains(v1.trim()), "{err}");
}

#[test]
fn onbuild_triggers_run_in_the_child_in_order_with_history() {
    let k = Kiln::with_busybox();
    k.build(&["-t", "onbuild-base", &ctx("build/onbuild/base")]);
    let base = k.inspect("onbuild-base");
    assert_eq!(
        base["Config"]["OnBuild"],
        serde_json::json!([
            "RUN echo first > /onbuild.txt",
            "RUN echo second >> /onbuild.txt",
            "ENV FROM_TRIGGER=yes",
            "COPY marker.txt /from-child-context.txt"
        ])
    );
    // The base itself did not run its triggers.
    assert_eq!(
        k.sh(
            "onbuild-base",
            "test -e /onbuild.txt && echo yes || echo no"
        ),
        "no\n"
    );

    k.build(&["-t", "onbuild-child", &ctx("build/onbuild/child")]);
    assert_eq!(
        k.sh("onbuild-child", "cat /seen-by-child.txt"),
        "first\nsecond\n"
    );
    assert_eq!(k.sh("onbuild-child", "echo $FROM_TRIGGER"), "yes\n");
    // A trigger's COPY reads the child's build context, as ONBUILD COPY . /app needs.
    assert_eq!(
        k.sh("onbuild-child", "cat /from-child-context.txt"),
        "from the child's context\n"
    );
    let child = k.inspect("onbuild-child");
    // Triggers are consumed: an image built FROM the child does not run them again.
    assert!(
        child["Config"]["OnBuild"].is_null() || child["Config"]["OnBuild"] == serde_json::json!([])
    );
    let created_by: Vec<String> = child["History"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["created_by"].as_str().unwrap_or("").to_string())
        .collect();
    let base_len = base["History"].as_array().unwrap().len();
    assert_eq!(
        created_by[base_len..].to_vec(),
        vec![
            "RUN /bin/sh -c echo first > /onbuild.txt # buildkit",
            "RUN /bin/sh -c echo second >> /onbuild.txt # buildkit",
            "ENV FROM_TRIGGER=yes",
            "COPY marker.txt /from-child-context.txt # buildkit",
            "RUN /bin/sh -c cat /onbuild.txt > /seen-by-child.txt # buildkit",
        ],
        "{created_by:#?}"
    );
    assert_history_matches_layers(&child);
}
