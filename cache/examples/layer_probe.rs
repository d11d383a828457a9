//! Temporary probe (perf engineer): deflate speed on a given dir's tar stream.
use std::time::Instant;
use kiln_cache::layer::{compress, diff, tarwrite, TarOptions};
fn main() {
    let src = std::path::PathBuf::from(std::env::args().nth(1).unwrap());
    let entries = diff::tree_entries(&src).unwrap();
    let mut tar = Vec::new();
    tarwrite::write_tar(&mut tar, &entries, &TarOptions::default()).unwrap();
    for level in [1u32, 2] {
        let t = Instant::now();
        let mut out = 0usize;
        for c in tar.chunks(compress::GZIP_BLOCK) {
            out += compress::deflate_block(c, false, level).unwrap().len();
        }
        println!("level {level}: {:.2}s cpu, {} -> {}", t.elapsed().as_secs_f64(), tar.len(), out);
    }
}
