//! Deterministic layers: a fixed tree gives a fixed diff id (a golden value, so any change to
//! the tar bytes is noticed), and random trees round-trip through layer + apply.

mod common;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use kiln_cache::layer::{
    self, apply_layer_blob, diff, ApplyMode, ApplyOptions, Compression, TarOptions,
};
use kiln_cache::ContentStore;
use proptest::prelude::*;

fn fixed_tree(root: &Path) {
    fs::create_dir_all(root.join("etc/conf.d")).unwrap();
    fs::write(root.join("etc/hostname"), "kiln\n").unwrap();
    fs::write(root.join("etc/conf.d/a"), vec![b'a'; 1000]).unwrap();
    symlink("hostname", root.join("etc/name")).unwrap();
    fs::hard_link(root.join("etc/hostname"), root.join("hostname-link")).unwrap();
    xattr::set(root.join("etc/hostname"), "user.k", b"v").unwrap();
    for (p, m) in [
        ("etc", 0o755),
        ("etc/conf.d", 0o700),
        ("etc/hostname", 0o644),
        ("etc/conf.d/a", 0o4755),
    ] {
        fs::set_permissions(root.join(p), fs::Permissions::from_mode(m)).unwrap();
    }
}

#[test]
fn fixed_tree_has_a_fixed_diff_id() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fixed_tree(&src);
    let store = ContentStore::open(&tmp.path().join("store")).unwrap();
    let entries = diff::tree_entries(&src).unwrap();
    // Files were just made, so every mtime is clamped to the epoch.
    let opts = TarOptions {
        source_date_epoch: Some(1_000_000_000),
    };
    let blob = layer::write_layer(&store, &entries, opts, Compression::None).unwrap();
    assert_eq!(
        blob.diff_id.to_string(),
        GOLDEN_DIFF_ID,
        "the deterministic tar format changed"
    );
    // GNU tar reads it: names, hardlinks, symlinks, setuid bits, clamped mtimes.
    let out = std::process::Command::new("tar")
        .arg("-tvf")
        .arg(store.path(&blob.digest))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = String::from_utf8(out.stdout).unwrap();
    for want in [
        "-rwsr-xr-x 0/0",
        "etc/name -> hostname",
        "hostname-link link to etc/hostname",
        "2001-09-09",
    ] {
        assert!(listing.contains(want), "{want:?} missing from:\n{listing}");
    }
    let gz = layer::write_layer(&store, &entries, opts, Compression::Gzip).unwrap();
    assert_eq!(gz.diff_id, blob.diff_id);
}

const GOLDEN_DIFF_ID: &str =
    "sha256:47fe9241c10a9b4c4a35826122c10cce9e97abd06067a174015e1557f53485e1";

#[derive(Debug, Clone)]
enum Node {
    File(Vec<u8>, u32),
    Dir(u32),
    Link(String),
    Hard(usize),
}

fn node() -> impl Strategy<Value = Node> {
    prop_oneof![
        (
            proptest::collection::vec(any::<u8>(), 0..3000),
            prop_oneof![
                Just(0o644u32),
                Just(0o600),
                Just(0o755),
                Just(0o4711),
                Just(0o2755)
            ]
        )
            .prop_map(|(d, m)| Node::File(d, m)),
        prop_oneof![Just(0o755u32), Just(0o700), Just(0o1777)].prop_map(Node::Dir),
        "[a-z./]{1,20}".prop_map(Node::Link),
        (0usize..8).prop_map(Node::Hard),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_trees_round_trip(nodes in proptest::collection::vec(("[a-z]{1,12}", 0usize..4, node()), 1..20)) {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        let dirs = ["", "a", "a/b", "c"];
        for d in dirs {
            fs::create_dir_all(src.join(d)).unwrap();
        }
        let mut files = Vec::new();
        for (name, d, n) in &nodes {
            let p = src.join(dirs[*d]).join(name);
            if fs::symlink_metadata(&p).is_ok() {
                continue;
            }
            match n {
                Node::File(data, mode) => {
                    fs::write(&p, data).unwrap();
                    fs::set_permissions(&p, fs::Permissions::from_mode(*mode)).unwrap();
                    files.push(p);
                }
                Node::Dir(mode) => {
                    fs::create_dir(&p).unwrap();
                    fs::set_permissions(&p, fs::Permissions::from_mode(*mode)).unwrap();
                }
                Node::Link(t) => symlink(t, &p).unwrap(),
                Node::Hard(i) => {
                    if let Some(t) = files.get(*i) {
                        fs::hard_link(t, &p).unwrap();
                    }
                }
            }
        }
        let store = ContentStore::open(&tmp.path().join("store")).unwrap();
        let entries = diff::tree_entries(&src).unwrap();
        let blob = layer::write_layer(&store, &entries, TarOptions::default(), Compression::Gzip).unwrap();
        let dest = tmp.path().join("dest");
        fs::create_dir(&dest).unwrap();
        apply_layer_blob(&store, &blob.digest, Some(&blob.diff_id), &dest, ApplyOptions { mode: ApplyMode::Merge, allow_devices: false }).unwrap();
        prop_assert_eq!(common::snapshot_tree(&src), common::snapshot_tree(&dest));
    }
}
