//! A layer written and unpacked in one pass (`write_layer_and_apply`): the directory it
//! unpacks equals the source tree, and the blob equals the one `write_layer` writes, with
//! incompressible blocks stored, across several pipeline chunks.

mod common;

use std::fs;
use std::os::unix::fs::symlink;

use kiln_cache::layer::{
    self, apply_layer_blob, diff, ApplyMode, ApplyOptions, Compression, TarOptions,
};
use kiln_cache::ContentStore;

#[test]
fn written_and_unpacked_in_one_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir_all(src.join("d/sub")).unwrap();
    // 3 MiB of xorshift bytes (stored blocks) and 2 MiB of text (compressed).
    let mut x: u64 = 0x2545f4914f6cdd1d;
    let random: Vec<u8> = (0..3 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    fs::write(src.join("d/random.bin"), &random).unwrap();
    fs::write(src.join("d/sub/text"), b"layer text\n".repeat(200_000)).unwrap();
    fs::hard_link(src.join("d/sub/text"), src.join("d/text-again")).unwrap();
    symlink("sub/text", src.join("d/link")).unwrap();
    let store = ContentStore::open(&tmp.path().join("store")).unwrap();
    let entries = diff::tree_entries(&src).unwrap();
    let opts = ApplyOptions {
        mode: ApplyMode::Merge,
        allow_devices: false,
    };
    let teed = tmp.path().join("teed");
    fs::create_dir(&teed).unwrap();
    let (blob, applied) = layer::write_layer_and_apply(
        &store,
        &entries,
        TarOptions::default(),
        Compression::Gzip,
        &teed,
        opts,
    )
    .unwrap();
    applied.unwrap();
    assert_eq!(common::snapshot_tree(&src), common::snapshot_tree(&teed));
    let plain =
        layer::write_layer(&store, &entries, TarOptions::default(), Compression::Gzip).unwrap();
    assert_eq!(plain, blob, "teeing changes nothing in the blob");
    // Stored random blocks keep the blob near the random data's size, not above it.
    assert!(blob.size < random.len() as u64 + (1 << 20), "{}", blob.size);
    let back = tmp.path().join("back");
    fs::create_dir(&back).unwrap();
    apply_layer_blob(&store, &blob.digest, Some(&blob.diff_id), &back, opts).unwrap();
    assert_eq!(common::snapshot_tree(&src), common::snapshot_tree(&back));
}
