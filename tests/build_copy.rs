//! COPY end to end on the busybox base: `--parents`, `--exclude`, `--link` layers that
//! survive a change of the base, hardlinks kept as hardlinks, and layers streamed from the
//! context without a snapshot directory until a step needs the files.

mod build_support;

use std::fs;
use std::path::Path;

use build_support::{testdata, write, Kiln};

#[test]
fn copy_parents_and_exclude() {
    let k = Kiln::with_busybox();
    let ctx = testdata("build/copy-flags");
    let out = k.run(&[
        "build",
        "--progress",
        "plain",
        "-t",
        "flags",
        ctx.to_str().unwrap(),
    ]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    // Seven COPYs from the context, one context step shown (as BuildKit does).
    let context_lines = log
        .lines()
        .filter(|l| l.ends_with("[internal] load build context"))
        .count();
    assert_eq!(context_lines, 1, "{log}");
    let files = k.sh(
        "flags",
        "find /p /pivot /pivot-dir /e1 /e2 /e3 /both -type f | sort",
    );
    assert_eq!(
        files,
        "/both/src/a/b/one.txt\n/both/src/a/c/two.txt\n\
         /e1/keep.txt\n/e1/sub/inner.log\n/e1/sub/inner.txt\n\
         /e2/keep.txt\n/e2/nested.tmp\n/e2/sub/inner.txt\n\
         /e3/drop.log\n/e3/keep.txt\n/e3/nested.tmp\n\
         /p/src/a/b/one.txt\n/p/src/a/c/two.txt\n\
         /pivot-dir/y/deep.txt\n/pivot/a/c/two.txt\n"
    );
}

#[test]
fn copy_link_layer_is_reused_on_a_new_base() {
    let k = Kiln::with_busybox();
    let ctx = k.path("link-ctx");
    write(
        &ctx,
        "Dockerfile",
        "FROM linkbase\nCOPY --link app.txt /app/\n",
    );
    write(&ctx, "app.txt", "app\n");
    k.assert_link_layer_reused_on_new_base(&ctx, "COPY --link");
    assert_eq!(k.sh("linked", "cat /marker /app/app.txt"), "2\napp\n");
}

#[test]
fn hardlinks_stay_hardlinks() {
    let k = Kiln::with_busybox();
    let ctx = k.path("hl-ctx");
    write(&ctx, "d/a.txt", "same inode\n");
    fs::hard_link(ctx.join("d/a.txt"), ctx.join("d/b.txt")).unwrap();
    write(
        &ctx,
        "Dockerfile",
        "FROM busybox AS s\n\
         RUN mkdir /s && echo x > /s/one && ln /s/one /s/two\n\
         FROM busybox\n\
         COPY d /h/\n\
         COPY --from=s /s /fromstage/\n",
    );
    k.build(&["-t", "hl", ctx.to_str().unwrap()]);
    let out = k.sh(
        "hl",
        "stat -c '%i %h' /h/a.txt /h/b.txt /fromstage/one /fromstage/two; cat /h/b.txt",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert_eq!(lines[0], lines[1], "context hardlinks: {out}");
    assert!(lines[0].ends_with(" 2"), "{out}");
    assert_eq!(lines[2], lines[3], "stage hardlinks: {out}");
    assert_eq!(lines[4], "same inode");
}

fn snapshot_count(root: &Path) -> usize {
    fs::read_dir(root.join("snapshots")).map_or(0, |d| d.count())
}

#[test]
fn copied_layers_are_unpacked_only_when_a_step_needs_them() {
    let k = Kiln::with_busybox();
    let ctx = k.path("lazy-ctx");
    for i in 0..50 {
        write(&ctx, &format!("tree/f{i}.txt"), &format!("file {i}\n"));
    }
    write(&ctx, "Dockerfile", "FROM busybox\nCOPY tree /tree/\n");
    let c = ctx.to_str().unwrap();
    k.build(&["-t", "lazy", c]);
    let before = snapshot_count(&k.root);
    // Only layers: the COPY wrote its blob, no directory of 50 files.
    k.build(&["-t", "lazy2", "--no-cache", c]);
    assert_eq!(
        snapshot_count(&k.root),
        before,
        "a final COPY made a snapshot"
    );
    // A RUN on top needs the files: unpacked once, then shared.
    write(
        &ctx,
        "Dockerfile",
        "FROM busybox\nCOPY tree /tree/\nRUN ls /tree | wc -l > /n\n",
    );
    k.build(&["-t", "lazy3", c]);
    assert_eq!(k.sh("lazy3", "cat /n /tree/f7.txt"), "50\nfile 7\n");
    // Two new snapshots: the COPY layer, unpacked once for the RUN, and the RUN's own.
    assert_eq!(snapshot_count(&k.root), before + 2);
}
