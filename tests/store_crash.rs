//! `kill -9` at any moment during load, import, prune or layer writes never corrupts the
//! store: afterwards `system check` finds no corruption and every image's content is there.

mod images_support;

use std::process::Stdio;
use std::time::Duration;

use images_support::{busybox_archive, tool, Kiln};

/// A root filesystem tarball big enough (a few MB; debug builds compress slowly) that kills
/// land anywhere from the layer write to the snapshot unpack.
fn big_rootfs_tar(k: &Kiln) -> String {
    let rootfs = k.path("bigroot");
    tool(
        concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/busybox-rootfs.sh"),
        &[rootfs.to_str().unwrap()],
    );
    // Deterministic, poorly compressible data.
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for f in 0..2 {
        let data: Vec<u8> = (0..1_500_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        std::fs::write(rootfs.join(format!("tmp/blob{f}")), data).unwrap();
    }
    let tar = k.path("bigroot.tar");
    tool(
        "tar",
        &[
            "-C",
            rootfs.to_str().unwrap(),
            "-cf",
            tar.to_str().unwrap(),
            ".",
        ],
    );
    tar.display().to_string()
}

fn assert_consistent(k: &Kiln, context: &str) {
    let out = k.ok(&["system", "check", "--format", "json"]);
    let rep: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rep["Healthy"], true, "{context}: {out}");
    for id in k.ok(&["images", "-q", "--no-trunc"]).lines() {
        k.ok(&["inspect", id]);
        k.ok(&["history", id]);
    }
}

#[test]
fn kill_9_during_writes_never_corrupts_the_store() {
    let k = Kiln::new();
    let archive = busybox_archive(k.tmp.path()).display().to_string();
    let big = big_rootfs_tar(&k);
    k.ok(&["load", "-i", &archive]);
    let ops: [Vec<&str>; 4] = [
        vec!["import", &big, "big:1"],
        vec!["load", "-i", &archive],
        vec!["system", "prune", "-a", "-f"],
        vec!["import", &big],
    ];
    for i in 0..20u64 {
        let args = &ops[(i % 4) as usize];
        let mut child = k
            .cmd(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Spread the kill points over the whole operation, from start-up to commit.
        std::thread::sleep(Duration::from_millis(5 + (i * 397) % 2500));
        let _ = child.kill();
        let _ = child.wait();
        assert_consistent(
            &k,
            &format!("after killing `kiln {}` (round {i})", args.join(" ")),
        );
    }
    // Repair clears what the kills left behind, and the store still works.
    k.ok(&["system", "check", "--repair"]);
    let out = k.ok(&["system", "check", "--format", "json"]);
    let rep: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rep["Garbage"], serde_json::json!([]), "{out}");
    k.ok(&["load", "-i", &archive]);
    k.ok(&["import", &big, "big:final"]);
    assert_consistent(&k, "after repair");
}
