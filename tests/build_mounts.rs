//! RUN --mount types and RUN --network, built from testdata/build/mounts/Dockerfile.* and
//! checked by running the images: cache mounts (owner/mode, from=, persistence, sharing
//! modes between concurrent builds, `kiln prune`), bind mounts from the context, a stage
//! and an image with rw writes discarded, tmpfs size, network none/host, and several
//! mounts in one RUN.

mod build_support;

use build_support::{testdata, Kiln};

fn dockerfile(name: &str) -> String {
    testdata(&format!("build/mounts/{name}"))
        .to_string_lossy()
        .into_owned()
}

#[test]
fn cache_mounts_get_owner_mode_and_seed_persist_and_are_pruned() {
    let k = Kiln::with_busybox();
    let ctx = testdata("build/mounts");
    let ctx = ctx.to_str().unwrap();
    let f = dockerfile("Dockerfile.cache");
    k.build(&["-t", "c", "-f", &f, ctx]);
    let check = "cat /cache-meta /count /seeded-lines";
    assert_eq!(k.sh("c", check), "1000 1001 750\n1\n1\n");
    // The directories outlive the build; the seed is copied only into a new directory.
    k.build(&["--no-cache", "-t", "c", "-f", &f, ctx]);
    assert_eq!(k.sh("c", check), "1000 1001 750\n2\n2\n");
    let pruned = k.ok(&["prune", "-f"]);
    assert!(pruned.contains("Deleted cache mount: owned"), "{pruned}");
    assert!(pruned.contains("Deleted cache mount: seeded"), "{pruned}");
    k.build(&["--no-cache", "-t", "c", "-f", &f, ctx]);
    assert_eq!(k.sh("c", check), "1000 1001 750\n1\n1\n");
    // The cache contents are never in the image.
    assert_eq!(k.sh("c", "ls -A /c /s 2>/dev/null | wc -l"), "0\n");
}

/// Two builds of `target` at once on one store, with NAME=a and NAME=b; their stderr.
fn concurrent(k: &Kiln, target: &str) -> [(String, String); 2] {
    let f = dockerfile("Dockerfile.sharing");
    let ctx = testdata("build/mounts");
    let spawn = |name: &str| {
        let tag = format!("{target}-{name}");
        let arg = format!("NAME={name}");
        k.cmd(&[
            "build",
            "--progress",
            "plain",
            "-t",
            &tag,
            "--target",
            target,
            "--build-arg",
            &arg,
            "-f",
            &f,
            ctx.to_str().unwrap(),
        ])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap()
    };
    let (a, b) = (spawn("a"), spawn("b"));
    [("a", a), ("b", b)].map(|(name, child)| {
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "build {target} NAME={name}:\n{err}");
        (format!("{target}-{name}"), err)
    })
}

#[test]
fn cache_sharing_modes_hold_between_concurrent_builds() {
    let k = Kiln::with_busybox();
    // shared: each step only finishes once it saw the other's file (else it fails).
    concurrent(&k, "shared");
    // private: each saw only its own file.
    let builds = concurrent(&k, "private");
    for (tag, _) in &builds {
        let own = tag.rsplit('-').next().unwrap();
        assert_eq!(k.sh(tag, "cat /seen"), format!("{own}\n"));
    }
    // locked: the steps took turns, so start/end pairs never interleave.
    concurrent(&k, "locked");
    let dir = k.root.join("cache-mounts");
    let log = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.unwrap().path().join("log")).ok())
        .next()
        .expect("the locked cache mount's log");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 4, "{log}");
    let first = lines[0].split(' ').next().unwrap();
    let second = if first == "a" { "b" } else { "a" };
    assert_eq!(
        lines,
        [
            format!("{first} start"),
            format!("{first} end"),
            format!("{second} start"),
            format!("{second} end")
        ],
        "{log}"
    );
}

#[test]
fn bind_mounts_from_context_stage_and_image_discard_rw_writes() {
    let k = Kiln::with_busybox();
    let ctx = k.copy_context("build/mounts");
    let f = dockerfile("Dockerfile.bind");
    k.build(&["-t", "b", "-f", &f, ctx.to_str().unwrap()]);
    let during = k.sh("b", "cat /ctx-during");
    assert!(
        during.contains("written") && !during.contains("top.txt"),
        "{during}"
    );
    let after = k.sh("b", "cat /ctx-after");
    assert!(
        after.contains("top.txt") && !after.contains("written"),
        "{after}"
    );
    // The context on disk is untouched.
    assert!(!ctx.join("written").exists());
    assert_eq!(std::fs::read_to_string(ctx.join("top.txt")).unwrap(), "y\n");
    assert_eq!(
        k.sh("b", "cat /tool /t-after /image-bind /f-during /f-after"),
        "tool\ntool.txt\nimage-bind-ok\nchanged\ny\n"
    );
    // No mountpoint is left in the image.
    assert_eq!(
        k.sh("b", "ls -d /ctx /t /bb /f.txt 2>/dev/null | wc -l"),
        "0\n"
    );
}

#[test]
fn tmpfs_size_network_modes_and_several_mounts_in_one_run() {
    let k = Kiln::with_busybox();
    let ctx = testdata("build/mounts");
    let f = dockerfile("Dockerfile.misc");
    let tok = k.path("tok");
    std::fs::write(&tok, "12345").unwrap();
    let secret = format!("id=tok,src={}", tok.display());
    k.build(&[
        "-t",
        "m",
        "--secret",
        &secret,
        "-f",
        &f,
        ctx.to_str().unwrap(),
    ]);
    assert_eq!(k.sh("m", "cat /tmpfs-kb"), "1024\n");
    // --network=none: a namespace of its own with only the loopback device.
    assert_eq!(k.sh("m", "cat /net-none"), "lo\n");
    // --network=host: the host's devices. Other tests add and remove veths meanwhile, so
    // compare the device of the host's default route, which they never touch.
    let seen = k.sh("m", "cat /net-host");
    let route = std::fs::read_to_string("/proc/net/route").unwrap();
    let uplink = route
        .lines()
        .skip(1)
        .find(|l| l.split_whitespace().nth(1) == Some("00000000"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or("lo")
        .to_string();
    assert!(
        seen.lines().any(|d| d == uplink),
        "{uplink} not in {seen:?}"
    );
    assert!(seen.lines().count() > 1, "{seen:?}");
    // top.txt (2 bytes) + the secret (5 bytes), the cache marker, and no mountpoints left.
    assert_eq!(
        k.sh("m", "cat /several /cache-seen /leftover-mountpoints"),
        "7\nmark\n0\n"
    );
}
