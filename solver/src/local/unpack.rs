//! ADD of a local tar archive (plain, gzip or zstd): detected by a valid tar header after
//! decompression, and extracted into the destination directory instead of copied.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use kiln_cache::layer::compress::decompress;

use super::copy::{io, CopyError};

const BLOCK: usize = 512;
/// Bytes 148..156 of a tar header hold its checksum.
const CKSUM: std::ops::Range<usize> = 148..156;

/// Whether `path` is a (possibly compressed) tar archive.
pub fn is_archive(path: &Path) -> bool {
    let Ok(f) = File::open(path) else {
        return false;
    };
    let Ok(mut r) = decompress(f) else {
        return false;
    };
    let mut head = [0u8; BLOCK];
    if r.read_exact(&mut head).is_err() {
        return false;
    }
    let header = tar::Header::from_byte_slice(&head);
    let Ok(stored) = header.cksum() else {
        return false;
    };
    // The checksum counts its own field as spaces.
    let sum: u32 = head
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if CKSUM.contains(&i) {
                32
            } else {
                u32::from(*b)
            }
        })
        .sum();
    sum == stored && head.iter().any(|b| *b != 0)
}

/// Extract the archive at `path` into the directory `dest` (an absolute host path inside
/// the step's root). Entries that would land outside `dest` are refused by the tar reader.
pub fn extract(path: &Path, dest: &Path) -> Result<(), CopyError> {
    let f = File::open(path).map_err(io("open archive", path))?;
    let r = decompress(f).map_err(io("decompress archive", path))?;
    let mut archive = tar::Archive::new(r);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_overwrite(true);
    archive.set_unpack_xattrs(false);
    let entries = archive.entries().map_err(io("read archive", path))?;
    for entry in entries {
        let mut entry = entry.map_err(io("read archive", path))?;
        entry
            .unpack_in(dest)
            .map_err(io("extract archive entry into", dest))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_and_extracts_gzip_tar_but_not_text() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("sub/f.txt"), "inside").unwrap();
        let tgz = d.path().join("a.tar.gz");
        let st = std::process::Command::new("tar")
            .arg("-czf")
            .arg(&tgz)
            .arg("-C")
            .arg(&src)
            .arg(".")
            .status()
            .unwrap();
        assert!(st.success());
        let text = d.path().join("notes.txt");
        std::fs::write(&text, "just text, long enough? ".repeat(40)).unwrap();
        assert!(is_archive(&tgz));
        assert!(!is_archive(&text));
        let out = d.path().join("out");
        std::fs::create_dir(&out).unwrap();
        extract(&tgz, &out).unwrap();
        assert_eq!(
            std::fs::read_to_string(out.join("sub/f.txt")).unwrap(),
            "inside"
        );
    }
}
