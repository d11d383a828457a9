//! `docker build` / `docker buildx build` command lines pasted into CI: named contexts
//! (`--build-context` local directories and `docker-image://`), the RUN settings
//! (`--network`, `--add-host`, `--ulimit`, `--shm-size`), manifest annotations, and the
//! flags accepted for compatibility (attestations refused with a clear message).

mod build_support;
mod daemon_support;

use std::path::Path;

use build_support::{ran, write, Kiln};
use daemon_support::private::PrivateClient;
use daemon_support::Daemon;

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

const COPY_A: &str = "COPY --from=docs a.txt /a.txt";
const MOUNT_B: &str = "RUN --mount=from=docs,source=b.txt,target=/b.txt cat /b.txt > /b.out";
const FINAL_A: &str = "COPY --from=a /a.txt /a.txt";
const FINAL_B: &str = "COPY --from=b /b.out /b.out";
const FINAL_TREE: &str = "COPY --from=t /x.txt /x.txt";
const MAIN: &str = "COPY main.txt /main.txt";
/// FROM a local context: its files copied onto scratch.
const FROM_TREE: &str = "FROM tree AS t";

fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[test]
fn local_named_context_feeds_copy_mount_and_from_and_only_its_readers_rerun() {
    let k = Kiln::with_busybox();
    let ctx = k.path("ctx");
    let docs = k.path("docs");
    let tree = k.path("tree");
    write(
        &ctx,
        "Dockerfile",
        &format!("FROM busybox AS a\n{COPY_A}\nFROM busybox AS b\n{MOUNT_B}\nFROM tree AS t\nFROM busybox\n{FINAL_A}\n{FINAL_B}\n{FINAL_TREE}\n{MAIN}\n"),
    );
    write(&ctx, "main.txt", "main\n");
    // The main context has files of the same names: a named context must not read them.
    write(&ctx, "a.txt", "WRONG a from the main context\n");
    write(&docs, "a.txt", "docs a\n");
    write(&docs, "b.txt", "docs b\n");
    write(&docs, "unused.txt", "unused\n");
    write(&tree, "x.txt", "tree x\n");
    // A named context's own .dockerignore applies to it, as in BuildKit.
    write(&tree, ".dockerignore", "*.log\n");
    let (c, d, t) = (s(&ctx), s(&docs), s(&tree));
    let docs_arg = format!("docs={d}");
    let tree_arg = format!("tree={t}");
    let build = || {
        ran(&k.build(&[
            "-t",
            "named",
            "--build-context",
            &docs_arg,
            "--build-context",
            &tree_arg,
            &c,
        ]))
    };
    assert_eq!(
        build(),
        sorted(&[COPY_A, MOUNT_B, FROM_TREE, FINAL_A, FINAL_B, FINAL_TREE, MAIN])
    );
    assert_eq!(
        k.sh("named", "cat /a.txt /b.out /x.txt /main.txt"),
        "docs a\ndocs b\ntree x\nmain\n"
    );
    assert!(build().is_empty(), "a no-op rebuild is fully cached");

    // A file of the named context that no step selects: nothing re-runs.
    write(&docs, "unused.txt", "unused v2\n");
    assert!(build().is_empty());
    // The file only the mount reads: the mount's step and what follows it.
    write(&docs, "b.txt", "docs b v2\n");
    assert_eq!(build(), sorted(&[MOUNT_B, FINAL_B, FINAL_TREE, MAIN]));
    // The file only the COPY reads.
    write(&docs, "a.txt", "docs a v2\n");
    assert_eq!(
        build(),
        sorted(&[COPY_A, FINAL_A, FINAL_B, FINAL_TREE, MAIN])
    );
    // FROM a local context reads all of it but what its .dockerignore excludes.
    write(&tree, "debug.log", "ignored\n");
    assert!(build().is_empty());
    // A change of its files reaches the stage's readers.
    write(&tree, "x.txt", "tree x v2\n");
    assert_eq!(build(), sorted(&[FROM_TREE, FINAL_TREE, MAIN]));
    assert_eq!(
        k.sh("named", "cat /a.txt /b.out /x.txt"),
        "docs a v2\ndocs b v2\ntree x v2\n"
    );

    // Without the named context `docs` would be an image: the build says so.
    let out = k.run(&["build", "-t", "x", "--build-context", &tree_arg, &c]);
    assert!(!out.status.success());
    // A named context that is not a directory is refused before anything runs.
    let out = k.run(&["build", "--build-context", "docs=/no/such/dir", &c]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("--build-context docs=/no/such/dir"), "{err}");
}

#[test]
fn docker_image_context_replaces_from_copy_from_and_a_stage_of_its_name() {
    let k = Kiln::with_busybox();
    // A name no registry has: only the named context can make `FROM base` work.
    k.ok(&["tag", "busybox", "kiln-test.invalid/base:1"]);
    let ctx = k.path("ctx");
    write(
        &ctx,
        "Dockerfile",
        "FROM busybox AS deps\nRUN exit 3\nFROM base\nCOPY --from=tools /bin/busybox /tools-busybox\nCOPY --from=deps /bin/true /deps-true\nRUN test -x /tools-busybox && test -x /deps-true && echo ok > /ok\n",
    );
    let c = s(&ctx);
    k.build(&[
        "-t",
        "imgctx",
        "--build-context",
        "base=docker-image://kiln-test.invalid/base:1",
        "--build-context",
        "tools=docker-image://busybox",
        "--build-context",
        "deps=docker-image://busybox:latest",
        &c,
    ]);
    assert_eq!(k.sh("imgctx", "cat /ok"), "ok\n");
    // Without them `deps` runs its failing RUN (and `base` is nowhere to be found).
    let out = k.run(&["build", "-t", "imgctx2", &c]);
    assert!(!out.status.success());
}

/// Network interfaces in /proc/net/dev (two header lines).
fn interfaces(dev: &str) -> usize {
    dev.lines().count().saturating_sub(2)
}

#[test]
fn network_hosts_ulimits_and_shm_reach_every_run_and_its_cache_key() {
    let k = Kiln::with_busybox();
    let ctx = k.path("ctx");
    write(
        &ctx,
        "Dockerfile",
        "FROM busybox\nRUN cat /proc/net/dev > /none.dev; readlink /proc/self/ns/net > /none.ns; cat /etc/hosts > /hosts; ulimit -n > /nofile; df -k /dev/shm | tail -n 1 > /shm\nRUN --network=host readlink /proc/self/ns/net > /host.ns\n",
    );
    let c = s(&ctx);
    let flags = [
        "--network=none",
        "--add-host",
        "db.internal:10.11.12.13",
        "--add-host=v6.internal=fd00::7",
        "--ulimit",
        "nofile=256:512",
        "--shm-size",
        "32m",
    ];
    let mut args = vec!["-t", "runset"];
    args.extend_from_slice(&flags);
    args.push(&c);
    k.build(&args);
    let hosts = k.sh("runset", "cat /hosts");
    assert!(hosts.contains("10.11.12.13\tdb.internal"), "{hosts}");
    assert!(hosts.contains("fd00::7\tv6.internal"), "{hosts}");
    assert_eq!(k.sh("runset", "cat /nofile").trim(), "256");
    let shm = k.sh("runset", "cat /shm");
    assert_eq!(shm.split_whitespace().nth(1), Some("32768"), "{shm}");
    assert_eq!(interfaces(&k.sh("runset", "cat /none.dev")), 1, "only lo");
    let host_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    let host_ns = host_ns.to_string_lossy();
    assert_eq!(
        k.sh("runset", "cat /host.ns").trim(),
        host_ns,
        "RUN --network=host wins over --network=none"
    );
    assert_ne!(k.sh("runset", "cat /none.ns").trim(), host_ns);

    // Same flags: cached. Another host entry: the RUN that sees it runs again.
    assert!(ran(&k.build(&args)).is_empty());
    let mut changed = args.clone();
    changed.splice(0..0, ["--add-host", "db.internal:10.0.0.1"]);
    assert_eq!(ran(&k.build(&changed)).len(), 2);

    for (bad, says) in [
        ("--network=bridge", "--network bridge"),
        ("--add-host=nohost", "--add-host"),
        ("--ulimit=bogus=1", "--ulimit"),
    ] {
        let out = k.run(&["build", bad, &c]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(says), "{bad}: {err}");
    }
}

#[test]
fn compatibility_flags_are_accepted_and_attestations_refused() {
    let k = Kiln::with_busybox();
    let ctx = k.path("ctx");
    write(&ctx, "Dockerfile", "FROM busybox\nRUN echo hi > /hi\n");
    let c = s(&ctx);
    let out_dir = k.path("out");
    let local = format!("type=local,dest={}", s(&out_dir));
    k.build(&[
        "--load",
        "--rm",
        "--force-rm",
        "--compress",
        "--pull=false",
        "--rm=false",
        "--provenance=false",
        "--sbom=0",
        "--attest",
        "type=provenance,disabled=true",
        "--allow",
        "network.host,security.insecure",
        "-t",
        "compat",
        "-o",
        &local,
        &c,
    ]);
    // --load with another output: both, as buildx.
    assert_eq!(std::fs::read_to_string(out_dir.join("hi")).unwrap(), "hi\n");
    assert_eq!(k.sh("compat", "cat /hi"), "hi\n");
    // `--pull` still takes no value before the context (no base image: nothing pulled).
    let scratch = k.path("scratch");
    write(&scratch, "Dockerfile", "FROM scratch\nCOPY Dockerfile /\n");
    k.build(&["--pull", "-t", "fromscratch", &s(&scratch)]);

    for bad in [
        vec!["--provenance=true"],
        vec!["--provenance", "mode=max"],
        vec!["--sbom=true"],
        vec!["--attest", "type=sbom"],
    ] {
        let mut args = vec!["build"];
        args.extend(bad.iter().copied());
        args.push(&c);
        let out = k.run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{bad:?} must fail");
        assert!(err.contains("kiln does not produce attestations"), "{err}");
    }
    let out = k.run(&["build", "--allow", "network.hots", &c]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("unknown entitlement"),
        "{err}"
    );
    let help = k.ok(&["build", "--help"]);
    for flag in [
        "--load",
        "--rm",
        "--force-rm",
        "--provenance",
        "--sbom",
        "--compress",
    ] {
        let line = help
            .lines()
            .skip_while(|l| !l.trim_start().starts_with(flag))
            .nth(1)
            .unwrap_or_default();
        assert!(line.contains("Compatibility"), "{flag}: {line}\n{help}");
    }
}

#[test]
fn annotations_land_on_the_image_manifest() {
    let k = Kiln::with_busybox();
    let ctx = k.path("ctx");
    write(&ctx, "Dockerfile", "FROM busybox\nRUN echo a > /a\n");
    let c = s(&ctx);
    let meta = k.path("meta.json");
    let m = s(&meta);
    k.build(&[
        "--annotation",
        "org.opencontainers.image.source=https://example.com/repo",
        "--annotation",
        "manifest:com.example.ci=42",
        "--metadata-file",
        &m,
        "-t",
        "annotated",
        &c,
    ]);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&meta).unwrap()).unwrap();
    let digest = meta["containerimage.digest"].as_str().unwrap();
    let hex = digest.strip_prefix("sha256:").unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(k.root.join("blobs/sha256").join(hex)).unwrap())
            .unwrap();
    let a = &manifest["annotations"];
    assert_eq!(
        a["org.opencontainers.image.source"],
        "https://example.com/repo"
    );
    assert_eq!(a["com.example.ci"], "42");
    // The name points at the annotated manifest; it runs like any image.
    assert_eq!(k.sh("annotated", "cat /a"), "a\n");
    let out = k.run(&["build", "--annotation", "index:a=b", &c]);
    assert!(!out.status.success());
}

/// Through the daemon's typed build API, from a client whose files the daemon cannot see:
/// the named context's selected files are uploaded beside the main context's, and the
/// RUN settings, annotations and --load travel in the request.
#[test]
fn named_contexts_and_run_settings_through_the_daemon() {
    let k = Kiln::with_busybox();
    let d = Daemon::start(&k.root, k.tmp.path(), &[]);
    let root = s(&k.root);
    let client = PrivateClient::new(k.tmp.path(), &d.host, &["--root", &root]);
    let out = client.run(
        r#"
mkdir ctx docs
printf 'FROM base\nCOPY --from=docs a.txt /a.txt\nCOPY main.txt /main.txt\nRUN --mount=from=docs,source=b.txt,target=/b.txt cat /b.txt /etc/hosts > /b.out; ulimit -n > /nofile\n' > ctx/Dockerfile
echo main > ctx/main.txt
echo docs-a > docs/a.txt
echo docs-b > docs/b.txt
echo unused > docs/unused.txt
b() {
  kc build --progress plain --build-context docs=docs --build-context base=docker-image://busybox \
    --add-host db.internal:10.9.8.7 --ulimit nofile=300:400 --annotation com.example.k=v \
    --provenance=false --load -t viad -o type=local,dest=out --metadata-file meta.json ctx 2> "$1" || { cat "$1" >&2; exit 1; }
}
b first.err
echo unused-v2 > docs/unused.txt
b second.err
grep -o '([0-9]* steps ran' second.err
echo docs-b-v2 > docs/b.txt
b third.err
grep -o '([0-9]* steps ran' third.err
cat out/a.txt out/main.txt out/b.out out/nofile
sed -n 's/.*"containerimage.digest": "sha256:\([0-9a-f]*\)".*/\1/p' meta.json
"#,
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{stdout}\n{stderr}\ndaemon log:\n{}",
        d.log_text()
    );
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next(),
        Some("(0 steps ran"),
        "an unselected file: {stdout}"
    );
    assert_eq!(
        lines.next(),
        Some("(1 steps ran"),
        "b.txt: only the RUN: {stdout}"
    );
    let rest: Vec<&str> = lines.collect();
    assert_eq!(&rest[..3], ["docs-a", "main", "docs-b-v2"], "{stdout}");
    assert!(rest.contains(&"10.9.8.7\tdb.internal"), "{stdout}");
    let [.., nofile, manifest] = rest[..] else {
        panic!("{stdout}");
    };
    assert_eq!(nofile, "300", "{stdout}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(k.root.join("blobs/sha256").join(manifest)).unwrap())
            .unwrap();
    assert_eq!(manifest["annotations"]["com.example.k"], "v", "{manifest}");
    // --load beside -o type=local: the name is in the daemon's store too.
    let id = d.ok(&["inspect", "--format", "{{.Id}}", "viad"]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
}
