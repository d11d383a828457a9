//! The layer planner against the directory copy: the same COPY actions, once written into a
//! directory and once planned as layer entries, streamed to tar and applied onto a copy of
//! the same base, must give the same tree (owners, modes, contents, links, hardlinks).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use kiln_cache::layer::apply::apply_tar;
use kiln_cache::layer::tarwrite::write_tar;
use kiln_cache::layer::{ApplyMode, ApplyOptions, EntryKind as LayerKind, TarOptions};
use kiln_frontend::graph::Copy;

use super::copy::{copy, copy_into, CopyError, Ids};
use super::copy_fixtures::{cp, source, write};
use super::copy_layer::LayerDest;

fn cp_a(from: &Path, to: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

/// Everything that must agree between the two copies, by path (directory mtimes aside:
/// the directory copy touches its parents as it writes).
fn describe(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<u64, PathBuf> = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let abs = root.join(&rel);
        let md = fs::symlink_metadata(&abs).unwrap();
        let mut d = format!("{:o} {}:{}", md.mode(), md.uid(), md.gid());
        if md.is_dir() {
            for e in fs::read_dir(&abs).unwrap() {
                stack.push(rel.join(e.unwrap().file_name()));
            }
        } else if md.file_type().is_symlink() {
            d += &format!(" -> {}", fs::read_link(&abs).unwrap().display());
        } else {
            d += &format!(
                " {:?} mtime {}",
                fs::read_to_string(&abs).unwrap(),
                md.mtime()
            );
            if md.nlink() > 1 {
                let first = inodes.entry(md.ino()).or_insert_with(|| rel.clone());
                d += &format!(" inode-of {}", first.display());
            }
        }
        out.insert(rel, d);
    }
    out
}

#[test]
fn planned_layer_equals_directory_copy() {
    let t = tempfile::tempdir().unwrap();
    let (src, base) = (t.path().join("src"), t.path().join("base"));
    write(&src, "dir/x", "X");
    write(&src, "dir/sub/y", "Y");
    write(&src, "hard1", "H");
    fs::hard_link(src.join("hard1"), src.join("hard2")).unwrap();
    write(&src, "f", "F");
    fs::set_permissions(src.join("f"), fs::Permissions::from_mode(0o751)).unwrap();
    symlink("dir/x", src.join("link")).unwrap();
    write(
        &base,
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
    );
    write(&base, "etc/group", "root:x:0:\napp:x:1001:\n");
    write(&base, "over", "old");
    fs::create_dir_all(base.join("usr/lib")).unwrap();
    fs::create_dir(base.join("tmp")).unwrap();
    fs::set_permissions(base.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    symlink("/usr/lib", base.join("lib")).unwrap();

    let source = source(&src, "");
    let mut chmod = cp("/f", "/over");
    chmod.mode = Some(0o600);
    let actions: Vec<(Copy, Option<Ids>)> = vec![
        (cp("/dir", "/tmp/out"), None),
        (cp("/hard*", "/lib/"), None),
        (chmod, None),
        (cp("/link", "/lnk"), Some((1000, 1001))),
        (cp("/dir/sub/y", "/new/deep/"), Some((1000, 1001))),
    ];

    let by_dir = t.path().join("by-dir");
    cp_a(&base, &by_dir);
    for (c, owner) in &actions {
        copy(c, &source, &by_dir, *owner).unwrap();
    }

    let mut plan = LayerDest::new(&base);
    for (c, owner) in &actions {
        copy_into(c, &source, &mut plan, *owner).unwrap();
    }
    let entries = plan.finish().unwrap();
    let find = |p: &str| entries.iter().find(|e| e.path == Path::new(p)).unwrap();
    assert_eq!(find("tmp").mode, 0o1777, "a base parent keeps its mode");
    assert_eq!(
        find("usr/lib/hard2").kind,
        LayerKind::Hardlink("usr/lib/hard1".into())
    );
    assert!(
        entries.iter().all(|e| e.path != Path::new("etc")),
        "untouched dirs stay out"
    );
    let mut tar = Vec::new();
    write_tar(&mut tar, &entries, &TarOptions::default()).unwrap();
    let by_layer = t.path().join("by-layer");
    cp_a(&base, &by_layer);
    let opts = ApplyOptions {
        mode: ApplyMode::Merge,
        allow_devices: false,
    };
    apply_tar(&tar[..], &by_layer, opts).unwrap();

    let (a, b) = (describe(&by_dir), describe(&by_layer));
    assert_eq!(a.len(), b.len(), "{a:#?}\n{b:#?}");
    for (path, want) in &a {
        if fs::symlink_metadata(by_dir.join(path)).unwrap().is_dir() {
            // Directory mtimes differ by design; owner and mode must not.
            assert_eq!(want, &b[path], "{}", path.display());
        } else {
            assert_eq!(Some(want), b.get(path), "{}", path.display());
        }
    }
    assert!(
        a[Path::new("usr/lib/hard2")].contains("inode-of usr/lib/hard1"),
        "{a:#?}"
    );
}

#[test]
fn replacing_a_directory_needs_a_real_tree() {
    let t = tempfile::tempdir().unwrap();
    let (src, base) = (t.path().join("src"), t.path().join("base"));
    write(&src, "d", "now a file");
    write(&base, "d/inside", "old");
    let source = source(&src, "");
    let mut plan = LayerDest::new(&base);
    let err = copy_into(&cp("/", "/"), &source, &mut plan, None).unwrap_err();
    assert!(matches!(err, CopyError::NeedsTree(_)), "{err}");
    // Through a symlink the same step writes: the base cannot answer that lookup.
    write(&src, "real/f", "F");
    symlink("real", src.join("alias")).unwrap();
    let mut plan = LayerDest::new(&base);
    let mut link = cp("/alias", "/a");
    link.follow_symlinks = false;
    copy_into(&link, &source, &mut plan, None).unwrap();
    let err = copy_into(&cp("/real/f", "/a/f"), &source, &mut plan, None).unwrap_err();
    assert!(matches!(err, CopyError::NeedsTree(_)), "{err}");
}
