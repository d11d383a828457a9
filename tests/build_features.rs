//! End-to-end builds of testdata/build/* Dockerfiles on the busybox base, each checked by
//! running the image and by `kiln inspect`.

mod build_support;

use build_support::{assert_history_matches_layers, ran, testdata, Kiln};

fn ctx(rel: &str) -> String {
    testdata(rel).to_str().unwrap().to_string()
}

#[test]
fn readme_example_builds_runs_and_rebuilds_fully_cached() {
    let k = Kiln::with_busybox();
    k.build(&["-t", "example", &ctx("example")]);
    let out = k.ok(&["run", "--rm", "example"]);
    assert_eq!(out, "hello from kiln\n");
    let img = k.inspect("example");
    assert_eq!(img["Config"]["User"], "nobody");
    assert_eq!(img["Config"]["Cmd"], serde_json::json!(["greet"]));
    assert_eq!(
        img["Config"]["Labels"]["org.opencontainers.image.title"],
        "kiln example"
    );
    let history = img["History"].as_array().unwrap();
    let last = history.last().unwrap();
    assert_eq!(last["comment"], "buildkit.dockerfile.v0");
    assert!(last["created"].as_str().is_some());
    // Base image history comes first, with its own time.
    assert_eq!(history[0]["created"], "2024-01-01T00:00:00Z");
    // Layers: base + the COPY --from.
    assert_eq!(img["RootFS"]["Layers"].as_array().unwrap().len(), 2);
    assert_history_matches_layers(&img);

    let again = k.build(&["-t", "example", &ctx("example")]);
    assert!(
        ran(&again).is_empty(),
        "a no-op rebuild ran steps: {:?}",
        ran(&again)
    );
    assert!(again.iter().any(|e| e["type"] == "cached"));
}

#[test]
fn copy_variants_and_dockerignore() {
    let k = Kiln::with_busybox();
    k.build(&["-t", "copy", &ctx("build/copy")]);
    let files = k.sh(
        "copy",
        "cd /; for f in dst/one.txt dst/renamed.txt tree/inner tree/sub/deep globbed/one.txt \
         globbed/two.txt multi/one.txt multi/m1.md heredoc/hello.txt; do echo \"$f=$(cat $f)\"; done",
    );
    assert_eq!(
        files,
        "dst/one.txt=one\ndst/renamed.txt=two\ntree/inner=inner\ntree/sub/deep=deep\n\
         globbed/one.txt=one\nglobbed/two.txt=two\nmulti/one.txt=one\nmulti/m1.md=m1\n\
         heredoc/hello.txt=hello from a heredoc\n"
    );
    // A directory's contents, not the directory; multiple sources land side by side.
    assert_eq!(
        k.sh("copy", "ls /tree; ls /multi"),
        "inner\nsub\nm1.md\none.txt\n"
    );
    assert_eq!(
        k.sh(
            "copy",
            "stat -c '%u:%g %a' /owned/by-name /owned/by-number /modes/private /dst/one.txt"
        ),
        "65534:65534 644\n1234:1234 644\n0:0 600\n0:0 644\n"
    );
    assert_history_matches_layers(&k.inspect("copy"));
    // .dockerignore'd files are never copied, even by COPY . (secret.key, **/*.tmp).
    assert_eq!(
        k.sh("copy", "ls -A /all; ls -A /all/dir; ls /tree"),
        ".dockerignore\nDockerfile\ndir\nmore\none.txt\ntwo.txt\ninner\nsub\ninner\nsub\n"
    );
}

#[test]
fn run_forms_env_arg_workdir_user_shell() {
    let k = Kiln::with_busybox();
    k.build(&[
        "-t",
        "run",
        "--build-arg",
        "GREETING=hey",
        &ctx("build/run"),
    ]);
    let out = k.sh(
        "run",
        "cd /work/dir; for f in shell pwd exec heredoc script shell-used; do echo \"$f: $(cat $f.txt)\"; done; cat /home/nobody/uid.txt",
    );
    assert_eq!(
        out,
        "shell: hey world\npwd: /work/dir\nexec: exec-form\nheredoc: line1\nline2\n\
         script: script via /dev/pipes/EOF\nshell-used: shell-override\n65534\n"
    );
    let img = k.inspect("run");
    assert_history_matches_layers(&img);
    assert_eq!(img["Config"]["WorkingDir"], "/work/dir");
    assert!(img["Config"]["Env"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("WHO=world")));
}

#[test]
fn multi_stage_copy_from_and_target() {
    let k = Kiln::with_busybox();
    let ev = k.build(&["-t", "stages", &ctx("build/stages")]);
    // The unused stage (which would fail) never runs.
    assert!(!ran(&ev).iter().any(|n| n.contains("never-runs")));
    assert_eq!(
        k.sh(
            "stages",
            "cat /from-builder.txt /from-base.txt; ls /artifact.txt 2>&1 || true"
        ),
        "built\nbase\nls: /artifact.txt: No such file or directory\n"
    );
    k.build(&[
        "-t",
        "stages-builder",
        "--target",
        "builder",
        &ctx("build/stages"),
    ]);
    assert_eq!(
        k.sh("stages-builder", "cat /artifact.txt /base.txt"),
        "built\nbase\n"
    );
    // --target of the failing stage fails the build with exit code 1.
    let out = k.run(&[
        "build",
        "--progress",
        "plain",
        "--target",
        "unused",
        &ctx("build/stages"),
    ]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn failing_step_reports_command_output_line_and_last_state() {
    let k = Kiln::with_busybox();
    let out = k.run(&[
        "build",
        "-t",
        "fail",
        "--progress",
        "plain",
        &ctx("build/fail"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("did not complete successfully: exit code: 3"),
        "{err}"
    );
    assert!(err.contains("about to fail"), "{err}");
    assert!(err.contains("on stderr"), "{err}");
    assert!(
        err.contains("   4 | >>> RUN echo \"about to fail\" && \\"),
        "{err}"
    );
    assert!(err.contains("   6 | >>>     exit 3"), "{err}");
    assert!(err.contains("   7 |     RUN echo never"), "{err}");
    // The state before the failing step is an image a shell can start in.
    let id = err
        .split("kiln run -it --rm ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no last-state id in:\n{err}"));
    assert_eq!(k.sh(id, "cat /before.txt"), "before\n");
    // Nothing was tagged.
    assert!(!k.run(&["inspect", "fail"]).status.success());
}

#[test]
fn outputs_iidfile_quiet_labels_and_platform() {
    let k = Kiln::with_busybox();
    let iid = k.path("iid");
    let oci = k.path("out.oci.tar");
    let out = k.ok(&[
        "build",
        "-q",
        "--label",
        "a=b",
        "--iidfile",
        iid.to_str().unwrap(),
        "-t",
        "outs",
        &ctx("build/stages"),
    ]);
    let id = out.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{out}");
    assert_eq!(std::fs::read_to_string(&iid).unwrap(), id);
    assert_eq!(k.inspect("outs")["Config"]["Labels"]["a"], "b");
    assert_eq!(k.inspect("outs")["Id"], id);

    let local = k.path("local-out");
    let tarf = k.path("rootfs.tar");
    k.build(&[
        "--output",
        &format!("type=oci,dest={}", oci.display()),
        "--output",
        &format!("type=local,dest={}", local.display()),
        "--output",
        &format!("type=tar,dest={}", tarf.display()),
        &ctx("build/stages"),
    ]);
    assert_eq!(
        std::fs::read_to_string(local.join("from-builder.txt")).unwrap(),
        "built\n"
    );
    assert!(local.join("bin/busybox").is_file());
    let listing = build_support_tool("tar", &["-tf", tarf.to_str().unwrap()]);
    assert!(
        listing
            .lines()
            .any(|l| l.trim_start_matches("./") == "from-base.txt"),
        "{listing}"
    );
    let skopeo = build_support_tool(
        "skopeo",
        &["inspect", &format!("oci-archive:{}", oci.display())],
    );
    let v: serde_json::Value = serde_json::from_str(&skopeo).unwrap();
    assert_eq!(v["Layers"].as_array().unwrap().len(), 3);

    let bad = k.run(&["build", "--platform", "linux/s390x", &ctx("build/stages")]);
    assert_eq!(bad.status.code(), Some(125));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("cross-platform builds are not supported")
    );
}

#[test]
fn dockerfile_from_elsewhere_stdin_and_tar_context() {
    let k = Kiln::with_busybox();
    let df = k.path("Other.Dockerfile");
    std::fs::write(&df, "FROM busybox\nCOPY one.txt /got\nCOPY . /ctx/\n").unwrap();
    // <Dockerfile>.dockerignore beside it replaces the context's .dockerignore.
    std::fs::write(k.path("Other.Dockerfile.dockerignore"), "two.txt\n").unwrap();
    k.build(&[
        "-t",
        "other",
        "-f",
        df.to_str().unwrap(),
        &ctx("build/copy"),
    ]);
    assert_eq!(k.sh("other", "cat /got"), "one\n");
    let listing = k.sh("other", "ls /ctx");
    assert!(
        listing.contains("secret.key") && !listing.contains("two.txt"),
        "{listing}"
    );

    let mut child = k
        .cmd(&[
            "build",
            "-q",
            "-t",
            "stdin-df",
            "-f",
            "-",
            &ctx("build/copy"),
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"FROM busybox\nCOPY two.txt /got\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(k.sh("stdin-df", "cat /got"), "two\n");

    let tarball = k.path("ctx.tar");
    build_support_tool(
        "tar",
        &["-cf", tarball.to_str().unwrap(), "-C", &ctx("example"), "."],
    );
    let out = k
        .cmd(&["build", "-q", "-t", "from-tar", "-"])
        .stdin(std::fs::File::open(&tarball).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(k.ok(&["run", "--rm", "from-tar"]), "hello from kiln\n");
}

fn build_support_tool(cmd: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} not runnable ({e}); .ci/run installs it"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn add_archives_copy_link_and_copy_from_image() {
    let k = Kiln::with_busybox();
    let dir = k.copy_context("build/add");
    let st = std::process::Command::new("tar")
        .args(["-czf", "bundle.tar.gz", "-C", "bundle", "."])
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(st.success());
    k.build(&["-t", "add", dir.to_str().unwrap()]);
    assert_eq!(
        k.sh("add", "cat /opt/bundle/sub/inside.txt /opt/plain.txt /linked/linked.txt; ls /opt/not-extracted"),
        "from the archive\nplain\nlinked\nbundle.tar.gz\n"
    );
    assert_eq!(k.sh("add", "/from-image/busybox echo works"), "works\n");
    // COPY --link is its own layer: base + 5 instructions that add layers.
    assert_eq!(
        k.inspect("add")["RootFS"]["Layers"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
}

#[test]
fn relative_store_root_works() {
    // The container helper runs from another directory; kiln must not hand it relative paths.
    let k = Kiln::with_busybox();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
            .args(["--root", "root"])
            .args(args)
            .current_dir(k.tmp.path())
            .env_remove("KILN_ROOT")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    run(&["build", "-q", "-t", "rel", &ctx("example")]);
    assert_eq!(run(&["run", "--rm", "rel"]), "hello from kiln\n");
}

#[test]
fn run_mounts_scratch_stage_parents_and_env_build_arg() {
    let k = Kiln::with_busybox();
    let d = ctx("build/mounts");
    let mut c = k.cmd(&["build", "-q", "-t", "mounts", "--build-arg", "FROMENV", &d]);
    let out = c.env("FROMENV", "from-env").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let script = "cat /count.txt /copied-tool.txt /from-ctx.txt /fromenv.txt /from-scratch-stage.txt /parents/a/b/f.txt; ls -d /scratch /cache 2>&1 | wc -l";
    // The mount points themselves are not left in the image (2 lines of "No such file").
    assert_eq!(k.sh("mounts", script), "1\ntool\ny\nfrom-env\ny\nx\n2\n");
    // The cache mount keeps its contents for the next build that runs the step.
    k.build(&["--no-cache", "-t", "mounts", "--build-arg", "FROMENV=x", &d]);
    assert_eq!(k.sh("mounts", "cat /count.txt"), "2\n");
    // A scratch stage is an image of only what it copied.
    k.build(&["-t", "bare", "--target", "bare", &d]);
    assert_eq!(
        k.inspect("bare")["RootFS"]["Layers"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn dockerfile_errors_and_missing_base_images_fail_the_build() {
    let k = Kiln::with_busybox();
    let dir = k.path("bad");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM busybox\nCOPY --chmod=999 a /b\n",
    )
    .unwrap();
    let out = k.run(&["build", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Dockerfile:2"));
    std::fs::write(dir.join("Dockerfile"), "FROM nosuch/image:1\nRUN true\n").unwrap();
    let out = k.run(&["build", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not found in the store; load or pull it"),
        "{err}"
    );
}
