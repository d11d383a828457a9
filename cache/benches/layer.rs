//! Layer throughput: create (walk + tar + compress + hash) and apply for a deterministic
//! data set (500 MB by default; `KILN_BENCH_MB` overrides), beside `tar c | gzip -1` and
//! `tar c | pigz -1` on the same files in the same run. Prints MB/s of uncompressed data.
//!   cargo bench -p kiln-cache --bench layer

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use kiln_cache::layer::{
    self, apply_layer_blob, diff, ApplyMode, ApplyOptions, Compression, TarOptions,
};
use kiln_cache::ContentStore;

/// Pseudo-text from a small vocabulary: compresses roughly like source code or logs, so the
/// compressor does real work (random bytes would only measure stored blocks).
fn make_data(root: &Path, total_mb: usize) -> u64 {
    let words: Vec<String> = (0..512u32)
        .map(|i| {
            format!(
                "w{:x}{}",
                i.wrapping_mul(2654435761) % 99991,
                ["", "_x", "Err", "::", "(", ")\n"][(i % 6) as usize]
            )
        })
        .collect();
    let mut x: u64 = 0x243f6a8885a308d3;
    let mut bytes = 0u64;
    let file_size = 1 << 20;
    for i in 0..total_mb {
        let dir = root.join(format!("d{:02}", i % 50));
        fs::create_dir_all(&dir).unwrap();
        let mut buf = Vec::with_capacity(file_size + 64);
        while buf.len() < file_size {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf.extend_from_slice(words[(x % 512) as usize].as_bytes());
            buf.push(b' ');
        }
        buf.truncate(file_size);
        bytes += buf.len() as u64;
        fs::write(dir.join(format!("f{i:04}")), &buf).unwrap();
    }
    bytes
}

fn mbps(bytes: u64, secs: f64) -> String {
    format!("{:8.1} MB/s", bytes as f64 / 1e6 / secs)
}

fn shell(cmd: &str) -> f64 {
    let t = Instant::now();
    let st = Command::new("sh").arg("-c").arg(cmd).status().unwrap();
    assert!(st.success(), "{cmd} failed");
    t.elapsed().as_secs_f64()
}

fn main() {
    let mb: usize = std::env::var("KILN_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let tmp =
        tempfile::tempdir_in(std::env::var("KILN_BENCH_DIR").unwrap_or_else(|_| "/var/tmp".into()))
            .unwrap();
    let src = tmp.path().join("src");
    let bytes = make_data(&src, mb);
    let store = ContentStore::open(&tmp.path().join("store")).unwrap();
    println!(
        "layer benchmark: {} files, {:.0} MB, {} cores",
        mb,
        bytes as f64 / 1e6,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    // Warm the page cache for everyone alike.
    shell(&format!("tar -C {} -cf - . > /dev/null", src.display()));

    let mut results = Vec::new();
    for c in [Compression::Gzip, Compression::Zstd] {
        let t = Instant::now();
        let entries = diff::tree_entries(&src).unwrap();
        let blob = layer::write_layer(
            &store,
            &entries,
            TarOptions {
                source_date_epoch: Some(0),
            },
            c,
        )
        .unwrap();
        let secs = t.elapsed().as_secs_f64();
        println!(
            "kiln create {:<5}        {}  ({:.2}s, {:.1} MB -> {:.1} MB)",
            format!("{c:?}").to_lowercase(),
            mbps(bytes, secs),
            secs,
            blob.uncompressed_size as f64 / 1e6,
            blob.size as f64 / 1e6
        );
        results.push(blob);
    }
    let gz = tmp.path().join("out.gz");
    let secs = shell(&format!(
        "tar -C {} -cf - . | gzip -1 > {}",
        src.display(),
        gz.display()
    ));
    println!(
        "tar c | gzip -1          {}  ({:.2}s, -> {:.1} MB)",
        mbps(bytes, secs),
        secs,
        fs::metadata(&gz).unwrap().len() as f64 / 1e6
    );
    let secs = shell(&format!(
        "tar -C {} -cf - . | pigz -1 > {}",
        src.display(),
        gz.display()
    ));
    println!(
        "tar c | pigz -1          {}  ({:.2}s, -> {:.1} MB)",
        mbps(bytes, secs),
        secs,
        fs::metadata(&gz).unwrap().len() as f64 / 1e6
    );

    for blob in &results {
        let dest = tmp.path().join(format!("apply-{:?}", blob.compression));
        fs::create_dir(&dest).unwrap();
        let t = Instant::now();
        apply_layer_blob(
            &store,
            &blob.digest,
            Some(&blob.diff_id),
            &dest,
            ApplyOptions {
                mode: ApplyMode::Merge,
                allow_devices: false,
            },
        )
        .unwrap();
        let secs = t.elapsed().as_secs_f64();
        println!(
            "kiln apply {:<5}         {}  ({:.2}s)",
            format!("{:?}", blob.compression).to_lowercase(),
            mbps(bytes, secs),
            secs
        );
        fs::remove_dir_all(&dest).unwrap();
    }
    let dest = tmp.path().join("tar-x");
    fs::create_dir(&dest).unwrap();
    let secs = shell(&format!(
        "pigz -dc {} | tar -C {} -xf -",
        gz.display(),
        dest.display()
    ));
    println!(
        "pigz -dc | tar x         {}  ({:.2}s)",
        mbps(bytes, secs),
        secs
    );
}
