//! Seeding an anonymous volume with the image's content at its mount path, merging the
//! image's overlay-form layers (bottom first) the way overlayfs shows them: whiteouts (0:0
//! character devices) delete, opaque directories hide what is below.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("seeding from {path}: {source}")]
pub struct SeedError {
    path: PathBuf,
    #[source]
    source: io::Error,
}

fn err(path: &Path) -> impl FnOnce(io::Error) -> SeedError + '_ {
    move |source| SeedError {
        path: path.to_path_buf(),
        source,
    }
}

fn is_whiteout(m: &std::fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

fn is_opaque(p: &Path) -> bool {
    matches!(xattr_get(p, "trusted.overlay.opaque"), Some(v) if v == b"y")
}

fn xattr_get(p: &Path, name: &str) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let cpath = std::ffi::CString::new(p.as_os_str().as_bytes()).ok()?;
    let cname = std::ffi::CString::new(name).ok()?;
    let mut buf = [0u8; 16];
    // SAFETY: valid NUL-terminated strings and a buffer of the given length.
    let n = unsafe {
        libc::lgetxattr(
            cpath.as_ptr(),
            cname.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (n >= 0).then(|| buf[..n as usize].to_vec())
}

/// The path of `dest` inside `layer`, or None when the layer does not have it or a
/// component on the way is not a plain directory (a symlink there could point out of the
/// layer; such paths are left unseeded).
fn locate(layer: &Path, dest: &str) -> Option<PathBuf> {
    let mut p = layer.to_path_buf();
    let comps: Vec<_> = Path::new(dest)
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_owned()),
            _ => None,
        })
        .collect();
    for (i, c) in comps.iter().enumerate() {
        p.push(c);
        let m = std::fs::symlink_metadata(&p).ok()?;
        if i + 1 < comps.len() && !m.is_dir() {
            return None;
        }
    }
    Some(p)
}

/// Copies the merged view of `dest` from `lower` (bottom first) into `target`.
pub fn copy_merged(lower: &[PathBuf], dest: &str, target: &Path) -> Result<(), SeedError> {
    for layer in lower {
        let Some(src) = locate(layer, dest) else {
            continue;
        };
        let m = std::fs::symlink_metadata(&src).map_err(err(&src))?;
        if is_whiteout(&m) || !m.is_dir() {
            clear_dir(target)?;
            continue;
        }
        if is_opaque(&src) {
            clear_dir(target)?;
        }
        merge_dir(&src, target)?;
    }
    Ok(())
}

fn clear_dir(dir: &Path) -> Result<(), SeedError> {
    for e in std::fs::read_dir(dir).map_err(err(dir))? {
        let p = e.map_err(err(dir))?.path();
        remove_any(&p)?;
    }
    Ok(())
}

fn remove_any(p: &Path) -> Result<(), SeedError> {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p).map_err(err(p)),
        Ok(_) => std::fs::remove_file(p).map_err(err(p)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(err(p)(e)),
    }
}

fn merge_dir(src: &Path, dst: &Path) -> Result<(), SeedError> {
    let m = std::fs::symlink_metadata(src).map_err(err(src))?;
    std::fs::set_permissions(dst, std::fs::Permissions::from_mode(m.mode() & 0o7777))
        .map_err(err(dst))?;
    std::os::unix::fs::lchown(dst, Some(m.uid()), Some(m.gid())).map_err(err(dst))?;
    for e in std::fs::read_dir(src).map_err(err(src))? {
        let e = e.map_err(err(src))?;
        let (s, d) = (e.path(), dst.join(e.file_name()));
        let m = std::fs::symlink_metadata(&s).map_err(err(&s))?;
        if is_whiteout(&m) {
            remove_any(&d)?;
        } else if m.is_dir() {
            let existing = std::fs::symlink_metadata(&d);
            if is_opaque(&s) || existing.as_ref().is_ok_and(|x| !x.is_dir()) {
                remove_any(&d)?;
            }
            if !d.is_dir() {
                std::fs::create_dir(&d).map_err(err(&d))?;
            }
            merge_dir(&s, &d)?;
        } else {
            remove_any(&d)?;
            if m.file_type().is_symlink() {
                let t = std::fs::read_link(&s).map_err(err(&s))?;
                std::os::unix::fs::symlink(t, &d).map_err(err(&d))?;
            } else if m.is_file() {
                std::fs::copy(&s, &d).map_err(err(&d))?;
            } else {
                // Devices, fifos and sockets are not volume content.
                continue;
            }
            std::os::unix::fs::lchown(&d, Some(m.uid()), Some(m.gid())).map_err(err(&d))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_layers_with_whiteouts_and_skips_symlinked_paths() {
        let t = tempfile::tempdir().unwrap();
        let (l1, l2, out) = (
            t.path().join("l1"),
            t.path().join("l2"),
            t.path().join("out"),
        );
        std::fs::create_dir_all(l1.join("data/sub")).unwrap();
        std::fs::write(l1.join("data/a"), "a1").unwrap();
        std::fs::write(l1.join("data/gone"), "x").unwrap();
        std::fs::write(l1.join("data/sub/s"), "s").unwrap();
        std::fs::create_dir_all(l2.join("data")).unwrap();
        std::fs::write(l2.join("data/a"), "a2").unwrap();
        nix::sys::stat::mknod(
            &l2.join("data/gone"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .unwrap();
        std::fs::create_dir(&out).unwrap();
        copy_merged(&[l1.clone(), l2.clone()], "/data", &out).unwrap();
        assert_eq!(std::fs::read_to_string(out.join("a")).unwrap(), "a2");
        assert!(!out.join("gone").exists());
        assert_eq!(std::fs::read_to_string(out.join("sub/s")).unwrap(), "s");

        // A symlinked path component is not followed out of the layer.
        std::os::unix::fs::symlink("/etc", l2.join("link")).unwrap();
        let out2 = t.path().join("out2");
        std::fs::create_dir(&out2).unwrap();
        copy_merged(&[l2], "/link/ssl", &out2).unwrap();
        assert_eq!(std::fs::read_dir(&out2).unwrap().count(), 0);
    }
}
