//! Volumes: named volumes persist across containers, bind mounts (read-only too), anonymous
//! volumes for the image's VOLUMEs seeded from the image, `rm -v`, and `volume
//! create|ls|inspect|rm|prune`.

mod runtime_support;

use runtime_support::Rt;

#[test]
fn named_volumes_persist_and_binds_mount() {
    let rt = Rt::new();
    let a = rt.detached(&[
        "-v",
        "data:/data",
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    assert_eq!(rt.ok(&["wait", &a]).trim(), "0");
    rt.ok(&["rm", "-v", &a]);
    // Named volumes survive rm -v and the next container sees the data.
    let b = rt.detached(&[
        "-v",
        "data:/data:ro",
        "busybox",
        "sh",
        "-c",
        "cat /data/f; touch /data/x",
    ]);
    assert_eq!(
        rt.ok(&["wait", &b]).trim(),
        "1",
        "read-only volume accepted a write"
    );
    assert!(rt.ok(&["logs", &b]).contains("kept"));
    let (_, err) = rt.fails(&["volume", "rm", "data"]);
    assert!(err.contains("in use"), "{err}");
    rt.ok(&["rm", &b]);
    let inspect: serde_json::Value =
        serde_json::from_str(&rt.ok(&["volume", "inspect", "data"])).unwrap();
    assert_eq!(inspect[0]["Name"], "data");
    assert_eq!(inspect[0]["Driver"], "local");
    assert_eq!(rt.ok(&["volume", "ls", "-q"]).trim(), "data");
    // A host directory, read-write.
    let host = rt.k.path("hostdir");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("in"), "from-host").unwrap();
    let spec = format!("{}:/h", host.display());
    let c = rt.detached(&[
        "-v",
        &spec,
        "busybox",
        "sh",
        "-c",
        "cat /h/in; echo out > /h/out",
    ]);
    assert_eq!(rt.ok(&["wait", &c]).trim(), "0");
    // No newline at the end of the output: the log keeps it that way.
    assert_eq!(rt.ok(&["logs", &c]), "from-host");
    assert_eq!(std::fs::read_to_string(host.join("out")).unwrap(), "out\n");
    let binds = rt.ok(&[
        "container",
        "inspect",
        "-f",
        "{{json .HostConfig.Binds}}",
        &c,
    ]);
    assert!(binds.contains(":/h"), "{binds}");
    rt.ok(&["rm", &c]);
    assert_eq!(rt.ok(&["volume", "rm", "data"]).trim(), "data");
    rt.ok(&["volume", "create", "spare"]);
    // As Docker 23+: a named volume is pruned only with --all.
    assert!(!rt.ok(&["volume", "prune", "-f"]).contains("spare"));
    assert_eq!(rt.ok(&["volume", "ls", "-q"]), "spare\n");
    assert!(rt.ok(&["volume", "prune", "-a", "-f"]).contains("spare"));
    assert!(rt.ok(&["volume", "ls", "-q"]).is_empty());
}

#[test]
fn image_volumes_are_anonymous_seeded_and_removed_with_rm_v() {
    let rt = Rt::new();
    let ctx = rt.k.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN mkdir -p /seed && echo from-image > /seed/file\nVOLUME /seed\n",
    )
    .unwrap();
    rt.ok(&["build", "-q", "-t", "withvol", ctx.to_str().unwrap()]);
    let id = rt.detached(&[
        "withvol",
        "sh",
        "-c",
        "cat /seed/file; echo more > /seed/new",
    ]);
    assert_eq!(rt.ok(&["wait", &id]).trim(), "0");
    assert_eq!(rt.ok(&["logs", &id]), "from-image\n");
    let mounts = rt.ok(&["container", "inspect", "-f", "{{json .Mounts}}", &id]);
    let vols = rt.ok(&["volume", "ls", "-q"]);
    assert_eq!(vols.lines().count(), 1, "{vols}");
    assert!(
        mounts.contains(vols.trim()) && mounts.contains("\"/seed\""),
        "{mounts}"
    );
    let vol = vols.trim().to_string();
    let data = rt.root().join("volumes").join(&vol).join("_data");
    assert_eq!(std::fs::read_to_string(data.join("new")).unwrap(), "more\n");
    // Plain rm keeps the anonymous volume, rm -v removes it.
    let id2 = rt.ok(&["create", "withvol", "true"]).trim().to_string();
    rt.ok(&["rm", &id2]);
    assert_eq!(rt.ok(&["volume", "ls", "-q"]).lines().count(), 2);
    rt.ok(&["rm", "-v", &id]);
    assert!(!data.exists());
    assert_eq!(rt.ok(&["volume", "ls", "-q"]).lines().count(), 1);
}
