//! This mount namespace's mount points (`/proc/self/mountinfo`), and detaching every mount
//! under a directory: how leftovers of killed processes (a build's step mounts, a runc
//! bundle's rootfs) are taken down before their directory is removed.

use std::path::{Path, PathBuf};

/// Mount points of this mount namespace, `\ooo` escapes decoded.
pub fn mount_points() -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape)
        .collect()
}

/// Lazily unmounts everything mounted at or below `dir`, deepest first (a mount on top of
/// another goes before it). Returns whether nothing is mounted there any more, so the
/// caller never deletes through a mount.
pub fn unmount_under(dir: &Path) -> bool {
    let mut under: Vec<PathBuf> = mount_points()
        .into_iter()
        .filter(|m| m.starts_with(dir))
        .collect();
    if under.is_empty() {
        return true;
    }
    under.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
    for m in &under {
        if let Err(e) = nix::mount::umount2(m.as_path(), nix::mount::MntFlags::MNT_DETACH) {
            tracing::warn!("unmounting {}: {e}", m.display());
        }
    }
    !mount_points().iter().any(|m| m.starts_with(dir))
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], oct) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_decoded() {
        assert_eq!(
            unescape("/a\\040b\\011c\\134d"),
            PathBuf::from("/a b\tc\\d")
        );
        assert_eq!(unescape("/plain\\04"), PathBuf::from("/plain\\04"));
    }

    #[test]
    fn sees_the_root_mount() {
        assert!(mount_points().iter().any(|m| m == Path::new("/")));
    }
}
