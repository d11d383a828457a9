//! The image commands end to end against a temp store: load, images, tag, rmi, inspect,
//! history, save, import.

mod images_support;

use images_support::Kiln;

#[test]
fn load_lists_and_inspects_busybox() {
    let k = Kiln::new();
    k.load_busybox();
    let out = k.ok(&["images"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("REPOSITORY")
            && lines[0].contains("IMAGE ID")
            && lines[0].contains("CREATED")
            && lines[0].ends_with("SIZE"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("busybox") && lines[1].contains("latest"),
        "{out}"
    );
    let id = k.ok(&["images", "-q"]).trim().to_string();
    assert_eq!(id.len(), 12);
    let full = k
        .ok(&["inspect", "--format", "{{.Id}}", "busybox"])
        .trim()
        .to_string();
    assert!(full.starts_with(&format!("sha256:{id}")));
    assert_eq!(
        k.ok(&["inspect", "--format", "{{.Config.Cmd}}", "busybox:latest"])
            .trim(),
        "[sh]"
    );
    assert_eq!(
        k.ok(&["inspect", "--format", "{{.Os}}/{{.Architecture}}", &id])
            .trim(),
        format!("linux/{}", kiln_arch())
    );
    let doc: serde_json::Value = serde_json::from_str(&k.ok(&["inspect", "busybox"])).unwrap();
    let img = &doc[0];
    assert_eq!(img["RepoTags"], serde_json::json!(["busybox:latest"]));
    assert!(img["RepoDigests"][0]
        .as_str()
        .unwrap()
        .starts_with("busybox@sha256:"));
    assert_eq!(img["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    for key in ["Created", "Config", "History", "Size", "Architecture", "Os"] {
        assert!(!img[key].is_null(), "{key} missing: {img}");
    }
    let hist = k.ok(&["history", "--no-trunc", "busybox"]);
    assert!(
        hist.starts_with("IMAGE")
            && hist.contains("CREATED BY")
            && hist.contains("busybox-image.sh (Debian busybox-static)"),
        "{hist}"
    );
    let json = k.ok(&["images", "--format", "json"]);
    let row: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(row["Repository"], "busybox");
    assert_eq!(
        k.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .trim(),
        "busybox:latest"
    );
}

fn kiln_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

#[test]
fn tag_and_rmi_untag_before_deleting() {
    let k = Kiln::new();
    k.load_busybox();
    k.ok(&["tag", "busybox", "myapp:1"]);
    k.ok(&["tag", "busybox", "localhost:5000/team/app:v2"]);
    let out = k.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let mut names: Vec<&str> = out.lines().collect();
    names.sort();
    assert_eq!(
        names,
        ["busybox:latest", "localhost:5000/team/app:v2", "myapp:1"]
    );
    // By id with several names: refused without -f.
    let id = k.ok(&["images", "-q"]).trim().to_string();
    let out = k.run(&["rmi", &id]);
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be forced"));
    // By name: only that name goes.
    assert_eq!(k.ok(&["rmi", "myapp:1"]).trim(), "Untagged: myapp:1");
    assert_eq!(
        k.ok(&["rmi", "localhost:5000/team/app:v2"]).trim(),
        "Untagged: localhost:5000/team/app:v2"
    );
    // Last name: untagged, then deleted, and its content collected.
    let out = k.ok(&["rmi", "busybox"]);
    assert_eq!(out.lines().next().unwrap(), "Untagged: busybox:latest");
    assert!(out
        .lines()
        .nth(1)
        .unwrap()
        .starts_with(&format!("Deleted: sha256:{id}")));
    assert_eq!(k.ok(&["images", "-q"]), "");
    let blobs = std::fs::read_dir(k.root.join("blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(blobs, 0);
    let out = k.run(&["rmi", "busybox"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such image: busybox"));
}

#[test]
fn save_then_load_into_another_store_keeps_identity() {
    let k = Kiln::new();
    k.load_busybox();
    k.ok(&["tag", "busybox", "copy:1"]);
    let archive = k.path("saved.tar");
    k.ok(&["save", "-o", archive.to_str().unwrap(), "busybox", "copy:1"]);
    let other = Kiln::new();
    let out = other.ok(&["load", "-i", archive.to_str().unwrap()]);
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        ["Loaded image: busybox:latest", "Loaded image: copy:1"]
    );
    let ids = |k: &Kiln| {
        k.ok(&[
            "images",
            "--no-trunc",
            "--digests",
            "--format",
            "{{.ID}} {{.Digest}}",
        ])
    };
    assert_eq!(ids(&k), ids(&other));
    // gzip'd archives load too, from stdin.
    let gz = k.path("saved.tar.gz");
    let st = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("gzip -c {} > {}", archive.display(), gz.display()))
        .status()
        .unwrap();
    assert!(st.success());
    let third = Kiln::new();
    let out = third
        .cmd(&["load"])
        .stdin(std::fs::File::open(&gz).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(ids(&k), ids(&third));
    assert!(third
        .ok(&["system", "check"])
        .contains("no corruption found"));
}

#[test]
fn import_rootfs_with_changes() {
    let k = Kiln::new();
    let rootfs = k.path("rootfs");
    images_support::tool(
        concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/busybox-rootfs.sh"),
        &[rootfs.to_str().unwrap()],
    );
    let tarball = k.path("rootfs.tar");
    images_support::tool(
        "tar",
        &[
            "-C",
            rootfs.to_str().unwrap(),
            "-cf",
            tarball.to_str().unwrap(),
            ".",
        ],
    );
    let id = k.ok(&[
        "import",
        "--change",
        "CMD [\"/bin/sh\"]",
        "--change",
        "ENV A=1",
        "-c",
        "WORKDIR /srv",
        tarball.to_str().unwrap(),
        "imported:v1",
    ]);
    assert!(id.trim().starts_with("sha256:"));
    assert_eq!(
        k.ok(&[
            "inspect",
            "--format",
            "{{.Config.Cmd}} {{.Config.WorkingDir}}",
            "imported:v1"
        ])
        .trim(),
        "[/bin/sh] /srv"
    );
    assert!(k
        .ok(&["inspect", "--format", "{{json .Config.Env}}", "imported:v1"])
        .contains("\"A=1\""));
    let hist = k.ok(&["history", "imported:v1"]);
    assert!(hist.contains("Imported from"), "{hist}");
    // From stdin, without a name: a dangling image.
    let out = k
        .cmd(&["import", "-"])
        .stdin(std::fs::File::open(&tarball).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dangling = k.ok(&[
        "images",
        "--filter",
        "dangling=true",
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ]);
    assert_eq!(dangling.trim(), "<none>:<none>");
    let bad = k.run(&[
        "import",
        "--change",
        "RUN rm -rf /",
        tarball.to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(125));
}

#[test]
fn system_df_prune_and_check() {
    let k = Kiln::new();
    k.load_busybox();
    let df = k.ok(&["system", "df"]);
    assert!(
        df.starts_with("TYPE") && df.contains("Images") && df.contains("Build Cache"),
        "{df}"
    );
    let rows: Vec<serde_json::Value> = k
        .ok(&["system", "df", "--format", "json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows[0]["TotalCount"], 1);
    assert!(rows[0]["SizeBytes"].as_u64().unwrap() > 500_000);
    k.ok(&["tag", "busybox", "second:1"]);
    k.ok(&["rmi", "busybox"]);
    // Untagging the last name of an image through tag+rmi leaves it named second:1, so
    // system prune keeps it; --all without containers removes it.
    let out = k.ok(&["system", "prune", "-f"]);
    assert!(out.contains("Total reclaimed space"), "{out}");
    assert_eq!(
        k.ok(&["images", "--format", "{{.Repository}}"]).trim(),
        "second"
    );
    let out = k.ok(&["system", "prune", "-a", "-f"]);
    assert!(out.contains("Deleted Image: sha256:"), "{out}");
    assert_eq!(k.ok(&["images", "-q"]), "");
    let check: serde_json::Value =
        serde_json::from_str(&k.ok(&["system", "check", "--format", "json"])).unwrap();
    assert_eq!(check["Healthy"], true);
    assert_eq!(check["BlobsChecked"], 0);
    let bad = k.run(&["prune", "--keep-storage", "lots"]);
    assert_eq!(bad.status.code(), Some(125));
    k.ok(&[
        "prune",
        "-f",
        "--filter",
        "until=24h",
        "--keep-storage",
        "1GB",
    ]);
}

#[test]
fn rmi_refuses_an_image_a_container_uses_unless_forced() {
    let k = Kiln::new();
    k.load_busybox();
    let store = kiln_cache::Store::open(&k.root).unwrap();
    let img = store.resolve_image("busybox").unwrap();
    let top = store
        .prepare_snapshots(&img)
        .unwrap()
        .last()
        .unwrap()
        .to_string();
    store.hold_snapshot(&top, "container:c0ffee").unwrap();
    let out = k.run(&["rmi", "busybox"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("container:c0ffee"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        k.ok(&["images", "--format", "{{.Repository}}"]).trim(),
        "busybox"
    );
    let out = k.ok(&["rmi", "-f", "busybox"]);
    assert!(
        out.starts_with("Untagged: busybox:latest\nDeleted: sha256:"),
        "{out}"
    );
    // The container keeps its snapshot until it lets go.
    assert!(store.snapshot_path(&top).join("fs/bin/busybox").is_file());
    store.release_snapshot(&top, "container:c0ffee").unwrap();
    k.ok(&["system", "prune", "-f"]);
    assert!(!store.snapshot_path(&top).exists());
}
