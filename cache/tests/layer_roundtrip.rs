//! tree -> layer -> apply gives the same tree; diffs from two trees and overlay upper dirs
//! carry deletions; identical input gives identical digests.

mod common;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use kiln_cache::layer::{
    self, apply_layer_blob, diff, ApplyMode, ApplyOptions, Compression, Entry, LayerBlob,
    TarOptions,
};
use kiln_cache::ContentStore;
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use nix::sys::time::TimeSpec;

fn chown(p: &Path, uid: u32, gid: u32) {
    nix::unistd::fchownat(
        None,
        p,
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(gid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

fn set_time(p: &Path, t: i64) {
    let ts = TimeSpec::new(t, 0);
    nix::sys::stat::utimensat(
        None,
        p,
        &ts,
        &ts,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .unwrap();
}

/// A tree with every kind of object the layer format must carry.
fn rich_tree(root: &Path) {
    fs::create_dir_all(root.join("etc/deep/er")).unwrap();
    fs::write(root.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
    fs::write(
        root.join("etc/deep/er/big"),
        vec![7u8; 3 * 1024 * 1024 + 17],
    )
    .unwrap();
    fs::write(root.join("bin"), b"#!/bin/sh\n").unwrap();
    fs::set_permissions(root.join("bin"), fs::Permissions::from_mode(0o4755)).unwrap();
    fs::create_dir(root.join("tmp")).unwrap();
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::create_dir(root.join("sgid")).unwrap();
    fs::set_permissions(root.join("sgid"), fs::Permissions::from_mode(0o2750)).unwrap();
    symlink("../etc/passwd", root.join("tmp/link")).unwrap();
    symlink("/absolute/dangling", root.join("dangling")).unwrap();
    fs::hard_link(root.join("etc/passwd"), root.join("etc/passwd-hard")).unwrap();
    fs::hard_link(root.join("etc/passwd"), root.join("tmp/passwd-hard2")).unwrap();
    mknod(
        &root.join("null"),
        SFlag::S_IFCHR,
        Mode::from_bits_truncate(0o666),
        makedev(1, 3),
    )
    .unwrap();
    mknod(
        &root.join("loop9"),
        SFlag::S_IFBLK,
        Mode::from_bits_truncate(0o660),
        makedev(7, 9),
    )
    .unwrap();
    nix::unistd::mkfifo(&root.join("fifo"), Mode::from_bits_truncate(0o640)).unwrap();
    let long = root.join("l".repeat(120)).join("m".repeat(120));
    fs::create_dir_all(&long).unwrap();
    fs::write(long.join("n".repeat(150)), b"long").unwrap();
    fs::write(root.join("capped"), b"ping").unwrap();
    // security.capability: cap_net_raw+ep, v2 format.
    let cap: [u8; 20] = [
        0, 0, 0, 2, 0, 0x20, 0, 0, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    xattr::set(root.join("capped"), "security.capability", &cap).unwrap();
    xattr::set(root.join("etc"), "user.note", b"hello").unwrap();
    chown(&root.join("etc/passwd"), 1000, 1001);
    chown(&root.join("tmp/link"), 33, 33);
    chown(&root.join("sgid"), 65534, 100);
    for (i, p) in [
        "etc/passwd",
        "bin",
        "null",
        "fifo",
        "capped",
        "etc/deep/er/big",
    ]
    .iter()
    .enumerate()
    {
        set_time(&root.join(p), 1_600_000_000 + i as i64);
    }
    set_time(&root.join("tmp/link"), 1_500_000_000);
    for d in ["etc/deep/er", "etc/deep", "etc", "tmp", "sgid"] {
        set_time(&root.join(d), 1_400_000_000);
    }
}

fn merge() -> ApplyOptions {
    ApplyOptions {
        mode: ApplyMode::Merge,
        allow_devices: true,
    }
}

/// Writes `lower`'s tree as a base layer and `top` (a diff over it) as the layer above, and
/// applies both in merge mode onto a new directory `dest`.
fn apply_base_and_top(
    store: &ContentStore,
    lower: &Path,
    top: &[Entry],
    dest: &Path,
) -> (LayerBlob, LayerBlob) {
    let write = |entries: &[Entry]| {
        layer::write_layer(store, entries, TarOptions::default(), Compression::Gzip).unwrap()
    };
    let base = write(&diff::tree_entries(lower).unwrap());
    let top = write(top);
    fs::create_dir(dest).unwrap();
    for blob in [&base, &top] {
        apply_layer_blob(store, &blob.digest, Some(&blob.diff_id), dest, merge()).unwrap();
    }
    (base, top)
}

#[test]
fn tree_layer_apply_round_trip_all_compressions() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    rich_tree(&src);
    let store = ContentStore::open(&tmp.path().join("store")).unwrap();
    let entries = diff::tree_entries(&src).unwrap();
    for c in [Compression::Gzip, Compression::Zstd, Compression::None] {
        let blob = layer::write_layer(&store, &entries, TarOptions::default(), c).unwrap();
        store.verify(&blob.digest).unwrap();
        let dest = tmp.path().join(format!("dest-{c:?}"));
        fs::create_dir(&dest).unwrap();
        apply_layer_blob(&store, &blob.digest, Some(&blob.diff_id), &dest, merge()).unwrap();
        assert_eq!(
            common::snapshot_tree(&src),
            common::snapshot_tree(&dest),
            "compression {c:?}"
        );
    }
}

#[test]
fn same_input_gives_same_digest_with_source_date_epoch() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ContentStore::open(&tmp.path().join("store")).unwrap();
    let opts = TarOptions {
        source_date_epoch: Some(1_000_000),
    };
    let mut digests = Vec::new();
    for run in 0..2 {
        // Two separately made trees: different inodes, mtimes and creation order.
        let src = tmp.path().join(format!("src{run}"));
        rich_tree(&src);
        if run == 1 {
            set_time(&src.join("bin"), 1_700_000_000);
        }
        let entries = diff::tree_entries(&src).unwrap();
        let g = layer::write_layer(&store, &entries, opts, Compression::Gzip).unwrap();
        let z = layer::write_layer(&store, &entries, opts, Compression::Zstd).unwrap();
        digests.push((g.digest, g.diff_id, z.digest));
    }
    assert_eq!(digests[0], digests[1]);
}

#[test]
fn diff_of_two_trees_applies_to_give_the_upper_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let lower = tmp.path().join("lower");
    rich_tree(&lower);
    let upper = tmp.path().join("upper");
    rich_tree(&upper);
    // Changes: delete a file and a dir, modify, add, replace a dir by a file, chmod.
    fs::remove_file(upper.join("bin")).unwrap();
    fs::remove_dir_all(upper.join("etc/deep")).unwrap();
    fs::write(upper.join("etc/passwd"), "changed\n").unwrap();
    fs::write(upper.join("tmp/new"), "new\n").unwrap();
    fs::remove_dir(upper.join("sgid")).unwrap();
    fs::write(upper.join("sgid"), "now a file").unwrap();
    fs::set_permissions(upper.join("fifo"), fs::Permissions::from_mode(0o600)).unwrap();
    let store = ContentStore::open(&tmp.path().join("store")).unwrap();
    let entries = diff::diff_trees(&lower, &upper).unwrap();
    assert!(entries
        .iter()
        .any(|e| e.path == Path::new("bin") && e.kind == layer::EntryKind::Whiteout));
    assert!(
        !entries.iter().any(|e| e.path == Path::new("null")),
        "unchanged files stay out of the diff"
    );
    let dest = tmp.path().join("dest");
    apply_base_and_top(&store, &lower, &entries, &dest);
    let (a, b) = (common::snapshot_tree(&upper), common::snapshot_tree(&dest));
    // Directory mtimes of parents of changes are rewritten by the diff; compare the rest.
    let strip = |m: std::collections::BTreeMap<String, String>| -> Vec<(String, String)> {
        m.into_iter()
            .map(|(k, v)| {
                if v.starts_with("dir") {
                    (k, v.split(" mtime").next().unwrap().to_string())
                } else {
                    (k, v)
                }
            })
            .collect()
    };
    assert_eq!(strip(a), strip(b));
}

/// A real overlayfs mount: changes land in the upper dir with overlay whiteouts and opaque
/// xattrs, and the layer made from it reproduces the merged view.
#[test]
fn overlay_upper_dir_becomes_oci_whiteouts() {
    let tmp = tempfile::tempdir().unwrap();
    let (lower, upper, work, merged) = (
        tmp.path().join("lower"),
        tmp.path().join("upper"),
        tmp.path().join("work"),
        tmp.path().join("merged"),
    );
    for d in [&lower, &upper, &work, &merged] {
        fs::create_dir(d).unwrap();
    }
    rich_tree(&lower);
    let guard = common::mount_overlay_rw(std::slice::from_ref(&lower), &upper, &work, &merged);
    fs::remove_file(merged.join("bin")).unwrap();
    fs::remove_dir_all(merged.join("etc/deep")).unwrap();
    fs::create_dir(merged.join("etc/deep")).unwrap(); // recreated: overlay marks it opaque
    fs::write(merged.join("etc/deep/fresh"), "fresh").unwrap();
    fs::write(merged.join("added"), "added").unwrap();
    let expected = common::snapshot_tree(&merged);
    drop(guard);

    let entries = diff::diff_overlay_upper(&upper).unwrap();
    let kinds: Vec<_> = entries
        .iter()
        .map(|e| (e.path.display().to_string(), e.kind.clone()))
        .collect();
    assert!(
        kinds.contains(&("bin".into(), layer::EntryKind::Whiteout)),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("etc/deep".into(), layer::EntryKind::Opaque)),
        "{kinds:?}"
    );
    let store = ContentStore::open(&tmp.path().join("store")).unwrap();
    let dest = tmp.path().join("dest");
    let (base, top) = apply_base_and_top(&store, &lower, &entries, &dest);
    let strip = |m: std::collections::BTreeMap<String, String>| -> Vec<(String, String)> {
        m.into_iter()
            .map(|(k, v)| {
                (
                    k,
                    v.split(" mtime").next().unwrap().to_string()
                        + v.split(" xattrs").nth(1).unwrap_or(""),
                )
            })
            .collect()
    };
    assert_eq!(strip(expected), strip(common::snapshot_tree(&dest)));

    // Applied in overlay mode, the layer dirs stack back into the same merged view.
    let (l0, l1, m2) = (
        tmp.path().join("l0"),
        tmp.path().join("l1"),
        tmp.path().join("m2"),
    );
    for d in [&l0, &l1, &m2] {
        fs::create_dir(d).unwrap();
    }
    let ov = ApplyOptions {
        mode: ApplyMode::Overlay,
        allow_devices: true,
    };
    apply_layer_blob(&store, &base.digest, None, &l0, ov).unwrap();
    apply_layer_blob(&store, &top.digest, None, &l1, ov).unwrap();
    let guard = common::mount_overlay_ro(&[l1.clone(), l0.clone()], &m2);
    let stacked = common::snapshot_tree(&m2);
    drop(guard);
    assert_eq!(strip(common::snapshot_tree(&dest)), strip(stacked));
}

#[test]
fn diff_id_mismatch_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("a"), "a").unwrap();
    let store = ContentStore::open(&tmp.path().join("store")).unwrap();
    let blob = layer::write_layer(
        &store,
        &diff::tree_entries(&src).unwrap(),
        TarOptions::default(),
        Compression::Gzip,
    )
    .unwrap();
    let wrong = kiln_cache::Digest::of_bytes(b"wrong");
    let dest = tmp.path().join("dest");
    fs::create_dir(&dest).unwrap();
    let err = apply_layer_blob(&store, &blob.digest, Some(&wrong), &dest, merge())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&wrong.to_string()) && err.contains(&blob.diff_id.to_string()),
        "{err}"
    );
}

#[test]
fn truncated_compressed_layer_fails_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("big"), vec![3u8; 4 << 20]).unwrap();
    let store = ContentStore::open(&tmp.path().join("store")).unwrap();
    for c in [Compression::Gzip, Compression::Zstd] {
        let blob = layer::write_layer(
            &store,
            &diff::tree_entries(&src).unwrap(),
            TarOptions::default(),
            c,
        )
        .unwrap();
        let bytes = fs::read(store.path(&blob.digest)).unwrap();
        let cut = store.put_bytes(&bytes[..bytes.len() / 2]).unwrap();
        let dest = tmp.path().join(format!("dest-{c:?}"));
        fs::create_dir(&dest).unwrap();
        let err =
            apply_layer_blob(&store, &cut.digest, Some(&blob.diff_id), &dest, merge()).unwrap_err();
        assert!(
            err.to_string().contains(&cut.digest.to_string())
                || err.to_string().contains("reading"),
            "{c:?}: {err}"
        );
    }
}
