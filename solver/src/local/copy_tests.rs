//! Docker's COPY rules and the file actions, on plain directories (no mounts needed).

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;

use kiln_frontend::graph::{FileAction, Owner};

use super::copy::{copy, CopyError, CopySource};
use super::copy_fixtures::{cp, source, tree};
use super::fileop::{apply, resolve_owner};
use crate::context::Matcher;

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap()
}

#[test]
fn destination_file_vs_directory() {
    let (s, d) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    tree(s.path(), &[("a.txt", "A"), ("b.txt", "B")]);
    fs::create_dir(d.path().join("existing")).unwrap();
    let src = source(s.path(), "");
    copy(&cp("/a.txt", "/renamed"), &src, d.path(), None).unwrap();
    copy(&cp("/a.txt", "/newdir/"), &src, d.path(), None).unwrap();
    copy(&cp("/a.txt", "/existing"), &src, d.path(), None).unwrap();
    copy(&cp("/*.txt", "/glob/"), &src, d.path(), None).unwrap();
    assert_eq!(read(&d.path().join("renamed")), "A");
    assert_eq!(read(&d.path().join("newdir/a.txt")), "A");
    assert_eq!(read(&d.path().join("existing/a.txt")), "A");
    assert_eq!(read(&d.path().join("glob/b.txt")), "B");
}

#[test]
fn directory_contents_excludes_and_missing_sources() {
    let (s, d) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    tree(
        s.path(),
        &[("dir/x", "X"), ("dir/sub/y.log", "Y"), ("dir/sub/z", "Z")],
    );
    let src = source(s.path(), "**/*.log");
    copy(&cp("/dir", "/out"), &src, d.path(), None).unwrap();
    assert_eq!(read(&d.path().join("out/x")), "X");
    assert_eq!(read(&d.path().join("out/sub/z")), "Z");
    assert!(
        !d.path().join("out/dir").exists(),
        "the directory itself is not copied"
    );
    assert!(
        !d.path().join("out/sub/y.log").exists(),
        "ignored files are never copied"
    );
    let err = copy(&cp("/nope", "/x"), &src, d.path(), None).unwrap_err();
    assert!(matches!(err, CopyError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("not found"), "{err}");
    // An ignored file named directly is as missing as an absent one.
    let err = copy(&cp("/dir/sub/y.log", "/y"), &src, d.path(), None).unwrap_err();
    assert!(matches!(err, CopyError::NotFound { .. }));
    // A wildcard matching nothing is fine unless empty matches are refused.
    copy(&cp("/*.none", "/x/"), &src, d.path(), None).unwrap();
    let mut strict = cp("/*.none", "/x/");
    strict.allow_empty_wildcard = false;
    assert!(copy(&strict, &src, d.path(), None).is_err());
}

#[test]
fn symlinks_in_the_destination_resolve_inside_the_root() {
    let (s, d) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    tree(s.path(), &[("lib.so", "L")]);
    fs::create_dir_all(d.path().join("usr/lib")).unwrap();
    // An absolute link, as merged-/usr images have: must not reach the host's /usr/lib.
    symlink("/usr/lib", d.path().join("lib")).unwrap();
    copy(
        &cp("/lib.so", "/lib/"),
        &source(s.path(), ""),
        d.path(),
        None,
    )
    .unwrap();
    assert_eq!(read(&d.path().join("usr/lib/lib.so")), "L");
    assert!(!Path::new("/usr/lib/lib.so").exists());
}

#[test]
fn owners_and_modes() {
    let (s, d) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    tree(s.path(), &[("f", "F")]);
    fs::set_permissions(s.path().join("f"), fs::Permissions::from_mode(0o751)).unwrap();
    std::os::unix::fs::chown(s.path().join("f"), Some(4242), Some(4343)).unwrap();
    tree(
        d.path(),
        &[
            (
                "etc/passwd",
                "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
            ),
            ("etc/group", "root:x:0:\nstaff:x:50:\n"),
        ],
    );
    let ctx = source(s.path(), "");
    copy(&cp("/f", "/ctx"), &ctx, d.path(), None).unwrap();
    let stage = CopySource {
        root: s.path(),
        excludes: Matcher::default(),
        exclude: Matcher::default(),
        from_context: false,
    };
    copy(&cp("/f", "/stage"), &stage, d.path(), None).unwrap();
    let ids = resolve_owner(
        d.path(),
        &Owner {
            user: "app".into(),
            group: Some("staff".into()),
        },
    )
    .unwrap();
    assert_eq!(ids, (1000, 50));
    let user_only = Owner {
        user: "app".into(),
        group: None,
    };
    assert_eq!(resolve_owner(d.path(), &user_only).unwrap(), (1000, 1000));
    let mut chmod = cp("/f", "/chowned");
    chmod.mode = Some(0o600);
    copy(&chmod, &ctx, d.path(), Some(ids)).unwrap();
    let meta = |p: &str| fs::symlink_metadata(d.path().join(p)).unwrap();
    assert_eq!(
        (meta("ctx").uid(), meta("ctx").gid()),
        (0, 0),
        "context files belong to root"
    );
    assert_eq!(
        (meta("stage").uid(), meta("stage").gid()),
        (4242, 4343),
        "stage files keep owners"
    );
    assert_eq!(meta("stage").mode() & 0o7777, 0o751);
    assert_eq!((meta("chowned").uid(), meta("chowned").gid()), (1000, 50));
    assert_eq!(meta("chowned").mode() & 0o7777, 0o600);
    let unknown = Owner {
        user: "ghost".into(),
        group: None,
    };
    assert!(resolve_owner(d.path(), &unknown).is_err());
}

#[test]
fn mkdir_mkfile_and_rm_actions() {
    let d = tempfile::tempdir().unwrap();
    tree(
        d.path(),
        &[("old/a.tmp", "1"), ("old/b.tmp", "2"), ("old/keep", "3")],
    );
    let actions = vec![
        FileAction::Mkdir {
            path: "/made/deep".into(),
            mode: 0o700,
            make_parents: true,
            owner: None,
        },
        FileAction::Mkfile {
            path: "/made/deep/f".into(),
            mode: 0o640,
            data: "hello".into(),
            owner: None,
        },
        FileAction::Rm {
            path: "/old/*.tmp".into(),
            allow_not_found: false,
            allow_wildcard: true,
        },
    ];
    apply(d.path(), &actions, &|_, _| None).unwrap();
    assert_eq!(read(&d.path().join("made/deep/f")), "hello");
    let mode = |p: &str| fs::metadata(d.path().join(p)).unwrap().mode() & 0o7777;
    assert_eq!(mode("made/deep"), 0o700);
    assert_eq!(mode("made/deep/f"), 0o640);
    assert!(!d.path().join("old/a.tmp").exists() && !d.path().join("old/b.tmp").exists());
    assert!(d.path().join("old/keep").exists());
    let missing = [FileAction::Rm {
        path: "/nothing".into(),
        allow_not_found: false,
        allow_wildcard: false,
    }];
    assert!(apply(d.path(), &missing, &|_, _| None).is_err());
}

#[test]
fn exclude_patterns_are_relative_to_each_source() {
    let (s, d) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    tree(
        s.path(),
        &[
            ("logs/keep.txt", "k"),
            ("logs/drop.log", "d"),
            ("logs/sub/inner.log", "i"),
            ("logs/sub/inner.txt", "t"),
            ("top.log", "x"),
            ("a.txt", "a"),
        ],
    );
    let mut src = source(s.path(), "");
    let exists = |p: &str| d.path().join(p).exists();
    src.exclude = Matcher::from_patterns(&["*.log"]).unwrap();
    copy(&cp("/logs", "/e1/"), &src, d.path(), None).unwrap();
    assert!(exists("e1/keep.txt") && exists("e1/sub/inner.log"));
    assert!(
        !exists("e1/drop.log"),
        "*.log is relative to the source dir"
    );
    // A wildcard's matches are tested by their own names too (a matched directory's
    // contents land in the destination, as Docker copies them).
    copy(&cp("/*", "/w/"), &src, d.path(), None).unwrap();
    assert!(exists("w/a.txt") && exists("w/keep.txt"));
    assert!(!exists("w/top.log") && !exists("w/drop.log"));
    src.exclude = Matcher::from_patterns(&["**/*.log"]).unwrap();
    copy(&cp("/logs", "/e2/"), &src, d.path(), None).unwrap();
    assert!(exists("e2/sub/inner.txt") && !exists("e2/sub/inner.log") && !exists("e2/drop.log"));
    src.exclude = Matcher::from_patterns(&["sub"]).unwrap();
    copy(&cp("/logs", "/e3/"), &src, d.path(), None).unwrap();
    assert!(
        exists("e3/drop.log") && !exists("e3/sub"),
        "a directory takes its contents"
    );
}
