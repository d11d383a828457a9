//! After an overlay run: removes from the upper dir the empty mountpoints setup created
//! (`/etc/hosts` in an image without one, a volume's directory, …) so they do not end up
//! in the layer, as BuildKit does.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Also drops the directories overlayfs copied up only to hold those mountpoints (e.g.
/// `/etc` for `/etc/hosts`) when they are empty, not opaque and identical in owner and
/// mode to the lower layer's: they carry no change of their own.
pub(crate) fn remove_copied_up_parents(upper: &Path, lower: &[PathBuf], created: &[String]) {
    let mut parents: Vec<&Path> = created
        .iter()
        .filter_map(|c| Path::new(c).parent())
        .filter(|p| *p != Path::new("/") && !created.iter().any(|c| Path::new(c) == *p))
        .collect();
    parents.sort();
    parents.dedup();
    // Deepest first, so a parent can become empty in turn.
    for dir in parents.iter().rev() {
        let rel = dir.strip_prefix("/").unwrap_or(dir);
        let host = upper.join(rel);
        let Ok(meta) = std::fs::symlink_metadata(&host) else {
            continue;
        };
        let empty = std::fs::read_dir(&host).is_ok_and(|mut d| d.next().is_none());
        let opaque = ["trusted.overlay.opaque", "user.overlay.opaque"]
            .iter()
            .any(|x| xattr_present(&host, x));
        let same_as_lower = lower
            .iter()
            .rev()
            .find_map(|l| std::fs::symlink_metadata(l.join(rel)).ok())
            .is_some_and(|l| {
                l.is_dir()
                    && l.mode() == meta.mode()
                    && l.uid() == meta.uid()
                    && l.gid() == meta.gid()
            });
        if meta.is_dir() && empty && !opaque && same_as_lower {
            if let Err(e) = std::fs::remove_dir(&host) {
                tracing::warn!(
                    "removing copied-up {} from the upper dir: {e}",
                    host.display()
                );
            }
        }
    }
}

fn xattr_present(path: &Path, name: &str) -> bool {
    let (Ok(p), Ok(n)) = (
        std::ffi::CString::new(path.as_os_str().as_encoded_bytes()),
        std::ffi::CString::new(name),
    ) else {
        return false;
    };
    // SAFETY: size query only (null buffer, length 0) on NUL-terminated strings.
    unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), std::ptr::null_mut(), 0) >= 0 }
}

/// `created` lists container paths in creation order (parents first).
pub(crate) fn remove_created_mountpoints(upper: &Path, created: &[String]) {
    for path in created.iter().rev() {
        let host = upper.join(path.trim_start_matches('/'));
        let Ok(meta) = std::fs::symlink_metadata(&host) else {
            continue;
        };
        let result = if meta.is_dir() {
            // Non-empty: the process wrote into it, so it belongs to the layer.
            match std::fs::remove_dir(&host) {
                Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) => Ok(()),
                other => other,
            }
        } else if meta.is_file() && meta.len() == 0 {
            std::fs::remove_file(&host)
        } else {
            Ok(())
        };
        if let Err(e) = result {
            tracing::warn!(
                "removing mountpoint {} from the upper dir: {e}",
                host.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_only_empty_created_paths() {
        let upper = tempfile::tempdir().unwrap();
        let u = upper.path();
        std::fs::create_dir_all(u.join("etc")).unwrap();
        std::fs::write(u.join("etc/hosts"), "").unwrap();
        std::fs::create_dir_all(u.join("data/keep")).unwrap();
        std::fs::create_dir_all(u.join("vol")).unwrap();
        let created: Vec<String> = ["/etc", "/etc/hosts", "/data", "/vol"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        remove_created_mountpoints(u, &created);
        assert!(!u.join("etc").exists());
        assert!(u.join("data/keep").exists());
        assert!(!u.join("vol").exists());
    }
}
