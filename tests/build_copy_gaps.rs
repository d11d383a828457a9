//! COPY gaps: `--link --chmod` is a real link layer (re-used on a new base), and
//! `--exclude` lists are .dockerignore-like (`!` re-includes, the last match wins).

mod build_support;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use build_support::{write, Kiln};

#[test]
fn copy_link_with_chmod_is_reused_on_a_new_base() {
    let k = Kiln::with_busybox();
    let ctx = k.path("link-chmod");
    write(
        &ctx,
        "Dockerfile",
        "FROM linkbase\nCOPY --link --chmod=750 run.sh /app/\n",
    );
    write(&ctx, "run.sh", "echo hi\n");
    k.assert_link_layer_reused_on_new_base(&ctx, "COPY --link --chmod");
    assert_eq!(
        k.sh("linked", "cat /marker; stat -c %a /app/run.sh"),
        "2\n750\n"
    );
}

#[test]
fn exclude_re_includes_with_the_last_match_winning() {
    let k = Kiln::with_busybox();
    let ctx = k.path("exclude-ctx");
    for f in [
        "src/a.log",
        "src/keep.log",
        "src/b.txt",
        "src/logs/x.log",
        "src/logs/important.log",
        "src/logs/y.txt",
    ] {
        write(&ctx, f, "x\n");
    }
    write(
        &ctx,
        "Dockerfile",
        "FROM busybox\n\
         COPY --exclude=*.log --exclude=!keep.log src /one/\n\
         COPY --exclude=logs --exclude=!logs/important.log src /two/\n\
         COPY --exclude=*.log --exclude=!keep.log --exclude=keep* src /three/\n",
    );
    // An excluded directory that something re-included below it keeps its own mode.
    fs::set_permissions(ctx.join("src/logs"), fs::Permissions::from_mode(0o700)).unwrap();
    k.build(&["-t", "excl", ctx.to_str().unwrap()]);
    assert_eq!(k.sh("excl", "stat -c %a /two/logs"), "700\n");
    let files = k.sh("excl", "cd / && find one two three -type f | sort");
    assert_eq!(
        files,
        "one/b.txt\none/keep.log\none/logs/important.log\none/logs/x.log\none/logs/y.txt\n\
         three/b.txt\nthree/logs/important.log\nthree/logs/x.log\nthree/logs/y.txt\n\
         two/a.log\ntwo/b.txt\ntwo/keep.log\ntwo/logs/important.log\n"
    );
}
