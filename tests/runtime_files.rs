//! A container's filesystem from the host: `diff` (A/C/D), `commit` (the new image runs with
//! the change), `cp` both ways (running and stopped, symlinks cannot lead out), `export`.

mod runtime_support;

use runtime_support::Rt;

fn changed(rt: &Rt) -> String {
    let id = rt.detached(&[
        "busybox",
        "sh",
        "-c",
        "echo new > /added; rm /bin/vi; mkdir /etc/conf.d; echo ready; exec sleep 60",
    ]);
    rt.eventually("ready", || rt.ok(&["logs", &id]).contains("ready"));
    id
}

#[test]
fn diff_and_commit() {
    let rt = Rt::new();
    let id = changed(&rt);
    let diff = rt.ok(&["diff", &id]);
    let lines: Vec<&str> = diff.lines().collect();
    assert_eq!(
        lines,
        ["A /added", "C /bin", "D /bin/vi", "C /etc", "A /etc/conf.d"],
        "{diff}"
    );
    let image = rt.ok(&[
        "commit",
        "-m",
        "snapshot",
        "-c",
        "CMD [\"cat\", \"/added\"]",
        "-c",
        "ENV COMMITTED=yes",
        &id,
        "snap:v1",
    ]);
    assert!(image.starts_with("sha256:"), "{image}");
    rt.ok(&["rm", "-f", &id]);
    // The image runs with the change and the new config.
    let c = rt.detached(&["snap:v1"]);
    assert_eq!(rt.ok(&["wait", &c]).trim(), "0");
    assert_eq!(rt.ok(&["logs", &c]), "new\n");
    let c2 = rt.detached(&[
        "snap:v1",
        "sh",
        "-c",
        "echo $COMMITTED; test -e /bin/vi || echo no-vi",
    ]);
    rt.ok(&["wait", &c2]);
    assert_eq!(rt.ok(&["logs", &c2]), "yes\nno-vi\n");
    let hist = rt.ok(&["history", "--no-trunc", "snap:v1"]);
    assert!(hist.contains("snapshot"), "{hist}");
}

#[test]
fn cp_both_ways_running_and_stopped() {
    let rt = Rt::new();
    let id = changed(&rt);
    let host = rt.k.path("h");
    std::fs::create_dir_all(host.join("tree/sub")).unwrap();
    std::fs::write(host.join("tree/sub/f"), "deep").unwrap();
    std::fs::write(host.join("one"), "single").unwrap();
    // Host to running container: a file onto a path, a directory into a directory.
    let one = host.join("one");
    rt.ok(&["cp", one.to_str().unwrap(), &format!("{id}:/copied")]);
    rt.ok(&[
        "cp",
        host.join("tree").to_str().unwrap(),
        &format!("{id}:/tmp"),
    ]);
    assert_eq!(rt.ok(&["exec", &id, "cat", "/copied"]), "single");
    assert_eq!(rt.ok(&["exec", &id, "cat", "/tmp/tree/sub/f"]), "deep");
    // Container to host.
    let out = rt.k.path("out");
    std::fs::create_dir_all(&out).unwrap();
    rt.ok(&["cp", &format!("{id}:/added"), out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(out.join("added")).unwrap(), "new\n");
    rt.ok(&[
        "cp",
        &format!("{id}:/etc"),
        out.join("etc").to_str().unwrap(),
    ]);
    assert!(out.join("etc/passwd").exists());
    // Stopped: through the container's layers, and the change is there on the next start.
    rt.ok(&["stop", "-t", "0", &id]);
    rt.ok(&["cp", one.to_str().unwrap(), &format!("{id}:/while-stopped")]);
    rt.ok(&[
        "cp",
        &format!("{id}:/copied"),
        out.join("back").to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read_to_string(out.join("back")).unwrap(), "single");
    rt.ok(&["start", &id]);
    assert_eq!(rt.ok(&["exec", &id, "cat", "/while-stopped"]), "single");
    assert!(rt.fs_mounts().is_empty(), "{:?}", rt.fs_mounts());
    let (_, err) = rt.fails(&["cp", &format!("{id}:/nope"), out.to_str().unwrap()]);
    assert!(err.contains("could not find"), "{err}");
}

#[test]
fn cp_does_not_follow_container_symlinks_out() {
    let rt = Rt::new();
    let host_dir = rt.k.path("host-target");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("secret"), "host-secret").unwrap();
    let hd = host_dir.to_str().unwrap().to_string();
    // The container points links at the host's absolute path (and via ..).
    let script = format!(
        "mkdir -p {hd} && ln -s {hd} /abs && ln -s ../../../../../../..{hd} /rel && echo ready && exec sleep 60"
    );
    let id = rt.detached(&["busybox", "sh", "-c", &script]);
    rt.eventually("ready", || rt.ok(&["logs", &id]).contains("ready"));
    let src = rt.k.path("payload");
    std::fs::write(&src, "payload").unwrap();
    rt.ok(&["cp", src.to_str().unwrap(), &format!("{id}:/abs/dropped")]);
    rt.ok(&["cp", src.to_str().unwrap(), &format!("{id}:/rel/dropped2")]);
    assert!(
        !host_dir.join("dropped").exists(),
        "cp wrote through a symlink to the host"
    );
    assert!(
        !host_dir.join("dropped2").exists(),
        "cp wrote through a symlink to the host"
    );
    assert_eq!(
        rt.ok(&["exec", &id, "cat", &format!("{hd}/dropped")]),
        "payload"
    );
    // Reading through the links gets the container's files, not the host's.
    let out = rt.k.path("read");
    let r = rt.run(&["cp", &format!("{id}:/abs/secret"), out.to_str().unwrap()]);
    assert!(!r.status.success());
    assert!(!out.exists());
    // A link itself is copied as a link.
    rt.ok(&["cp", &format!("{id}:/abs"), out.to_str().unwrap()]);
    assert_eq!(std::fs::read_link(&out).unwrap(), host_dir);
}

#[test]
fn export_writes_the_merged_filesystem() {
    let rt = Rt::new();
    let id = changed(&rt);
    let tar = rt.k.path("fs.tar");
    rt.ok(&["export", "-o", tar.to_str().unwrap(), &id]);
    let list = std::process::Command::new("tar")
        .args(["tf", tar.to_str().unwrap()])
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&list.stdout);
    assert!(names.lines().any(|l| l == "added"), "{names}");
    assert!(names.lines().any(|l| l == "bin/busybox"));
    assert!(
        !names.lines().any(|l| l == "bin/vi"),
        "deleted file exported"
    );
    assert!(rt.fs_mounts().is_empty(), "{:?}", rt.fs_mounts());
}
