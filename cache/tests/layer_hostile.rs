//! Hostile layers must not write outside their snapshot; each trick is rejected by name.

use std::fs;
use std::io::Cursor;
use std::path::Path;

use kiln_cache::layer::apply::{apply_tar, ApplyError, ApplyMode, ApplyOptions};

/// (name, type, link target, content) of one raw tar entry.
type RawEntry<'a> = (&'a [u8], tar::EntryType, &'a [u8], &'a [u8]);

/// Build a tar with raw names (the tar crate's own builder refuses hostile names).
fn raw_tar(entries: &[RawEntry<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, ty, link, data) in entries {
        let mut h = tar::Header::new_ustar();
        h.as_ustar_mut().unwrap().name[..name.len()].copy_from_slice(name);
        h.as_ustar_mut().unwrap().linkname[..link.len()].copy_from_slice(link);
        h.set_entry_type(*ty);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        if *ty == tar::EntryType::Char {
            h.set_device_major(1).unwrap();
            h.set_device_minor(3).unwrap();
        }
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

const F: tar::EntryType = tar::EntryType::Regular;
const OPTS: ApplyOptions = ApplyOptions {
    mode: ApplyMode::Merge,
    allow_devices: false,
};

struct Sandbox {
    _tmp: tempfile::TempDir,
    dest: std::path::PathBuf,
    outside: std::path::PathBuf,
}

fn sandbox() -> Sandbox {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("snap/fs");
    let outside = tmp.path().join("outside");
    fs::create_dir_all(&dest).unwrap();
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("secret"), "keep").unwrap();
    Sandbox {
        _tmp: tmp,
        dest,
        outside,
    }
}

fn apply(dest: &Path, tar: Vec<u8>, opts: ApplyOptions) -> Result<(), ApplyError> {
    apply_tar(Cursor::new(tar), dest, opts).map(|_| ())
}

fn assert_outside_untouched(s: &Sandbox) {
    assert_eq!(
        fs::read_to_string(s.outside.join("secret")).unwrap(),
        "keep"
    );
    assert_eq!(fs::read_dir(&s.outside).unwrap().count(), 1);
}

#[test]
fn rejects_parent_dir_names() {
    let s = sandbox();
    let err = apply(
        &s.dest,
        raw_tar(&[(b"../../outside/evil", F, b"", b"x")]),
        OPTS,
    )
    .unwrap_err();
    assert!(matches!(err, ApplyError::ParentDir { .. }), "{err}");
    let err = apply(&s.dest, raw_tar(&[(b"a/../../x", F, b"", b"x")]), OPTS).unwrap_err();
    assert!(matches!(err, ApplyError::ParentDir { .. }), "{err}");
    assert!(err.to_string().contains("a/../../x"));
    assert_outside_untouched(&s);
}

#[test]
fn rejects_absolute_names() {
    let s = sandbox();
    let name = format!("{}/evil", s.outside.display());
    let err = apply(&s.dest, raw_tar(&[(name.as_bytes(), F, b"", b"x")]), OPTS).unwrap_err();
    assert!(matches!(err, ApplyError::Absolute { .. }), "{err}");
    assert_outside_untouched(&s);
}

#[test]
fn rejects_write_through_symlink_in_same_layer() {
    let s = sandbox();
    let target = s.outside.display().to_string();
    let tar = raw_tar(&[
        (b"escape", tar::EntryType::Symlink, target.as_bytes(), b""),
        (b"escape/evil", F, b"", b"x"),
    ]);
    let err = apply(&s.dest, tar, OPTS).unwrap_err();
    assert!(matches!(err, ApplyError::ThroughSymlink { .. }), "{err}");
    assert_outside_untouched(&s);
}

#[test]
fn rejects_write_through_symlink_from_earlier_layer() {
    let s = sandbox();
    apply(
        &s.dest,
        raw_tar(&[(b"escape", tar::EntryType::Symlink, b"../../outside", b"")]),
        OPTS,
    )
    .unwrap();
    let err = apply(
        &s.dest,
        raw_tar(&[(b"escape/secret", F, b"", b"overwritten")]),
        OPTS,
    )
    .unwrap_err();
    assert!(matches!(err, ApplyError::ThroughSymlink { .. }), "{err}");
    // A whiteout through the symlink must not delete outside either.
    let err = apply(
        &s.dest,
        raw_tar(&[(b"escape/.wh.secret", F, b"", b"")]),
        OPTS,
    )
    .unwrap_err();
    assert!(matches!(err, ApplyError::ThroughSymlink { .. }), "{err}");
    assert_outside_untouched(&s);
}

#[test]
fn replacing_a_symlink_with_a_file_does_not_follow_it() {
    let s = sandbox();
    let target = s.outside.join("secret").display().to_string();
    apply(
        &s.dest,
        raw_tar(&[(b"victim", tar::EntryType::Symlink, target.as_bytes(), b"")]),
        OPTS,
    )
    .unwrap();
    apply(&s.dest, raw_tar(&[(b"victim", F, b"", b"mine")]), OPTS).unwrap();
    assert_eq!(fs::read_to_string(s.dest.join("victim")).unwrap(), "mine");
    assert_outside_untouched(&s);
}

#[test]
fn rejects_hardlinks_outside() {
    let s = sandbox();
    let abs = s.outside.join("secret").display().to_string();
    for target in [abs.as_bytes(), b"../../outside/secret".as_slice()] {
        let err = apply(
            &s.dest,
            raw_tar(&[(b"link", tar::EntryType::Link, target, b"")]),
            OPTS,
        )
        .unwrap_err();
        assert!(matches!(err, ApplyError::LinkOutside { .. }), "{err}");
    }
    // Through a symlinked directory inside the snapshot.
    let dir = s.outside.display().to_string();
    let tar = raw_tar(&[
        (b"d", tar::EntryType::Symlink, dir.as_bytes(), b""),
        (b"link", tar::EntryType::Link, b"d/secret", b""),
    ]);
    let err = apply(&s.dest, tar, OPTS).unwrap_err();
    assert!(matches!(err, ApplyError::ThroughSymlink { .. }), "{err}");
    assert!(!s.dest.join("link").exists());
    assert_outside_untouched(&s);
}

#[test]
fn rejects_device_nodes_unless_allowed() {
    let s = sandbox();
    let tar = raw_tar(&[(b"dev/null", tar::EntryType::Char, b"", b"")]);
    let err = apply(&s.dest, tar.clone(), OPTS).unwrap_err();
    assert!(matches!(err, ApplyError::DeviceNotAllowed { .. }), "{err}");
    apply(
        &s.dest,
        tar,
        ApplyOptions {
            allow_devices: true,
            ..OPTS
        },
    )
    .unwrap();
    use std::os::unix::fs::FileTypeExt;
    assert!(fs::symlink_metadata(s.dest.join("dev/null"))
        .unwrap()
        .file_type()
        .is_char_device());
}

#[test]
fn hardlinks_inside_resolve_in_the_snapshot() {
    let s = sandbox();
    let tar = raw_tar(&[
        (b"a/file", F, b"", b"data"),
        (b"b/link", tar::EntryType::Link, b"./a/file", b""),
    ]);
    apply(&s.dest, tar, OPTS).unwrap();
    use std::os::unix::fs::MetadataExt;
    let (a, b) = (
        fs::metadata(s.dest.join("a/file")).unwrap(),
        fs::metadata(s.dest.join("b/link")).unwrap(),
    );
    assert_eq!(a.ino(), b.ino());
}

#[test]
fn overlay_private_xattrs_are_not_applied() {
    let s = sandbox();
    let mut out = Vec::new();
    let mut b = tar::Builder::new(&mut out);
    b.append_pax_extensions([("SCHILY.xattr.trusted.overlay.redirect", b"/etc".as_slice())])
        .unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_path("d").unwrap();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    h.set_cksum();
    b.append(&h, std::io::empty()).unwrap();
    b.finish().unwrap();
    drop(b);
    apply(
        &s.dest,
        out,
        ApplyOptions {
            mode: ApplyMode::Overlay,
            allow_devices: false,
        },
    )
    .unwrap();
    assert_eq!(
        xattr::get(s.dest.join("d"), "trusted.overlay.redirect").unwrap(),
        None
    );
}
