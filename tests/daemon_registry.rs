//! Registry commands through the daemon: push from one daemon's store, pull into another's,
//! and a typed build whose base image the daemon pulls itself (a real docker-registry).

mod build_registry_support;
mod build_support;
mod daemon_support;

use build_registry_support::{remote_digest, Registry};
use build_support::{events, ran, Kiln};
use daemon_support::Daemon;

#[test]
fn push_pull_and_base_image_pulls_through_the_daemon() {
    let reg = Registry::start();
    let name = reg.name("team/busybox:1");
    let src = Kiln::with_busybox();
    let d = Daemon::start(&src.root, src.tmp.path(), &[]);
    d.ok(&["tag", "busybox", &name]);
    let out = d.run(&["push", &name]);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        d.log_text()
    );
    let pushed = remote_digest(&name).expect("the image is in the registry");

    // An empty store behind another daemon: pull, then build FROM the registry.
    let dst_dir = tempfile::tempdir().unwrap();
    let dst_root = dst_dir.path().join("root");
    let d2 = Daemon::start(&dst_root, dst_dir.path(), &[]);
    let out = d2.run(&["pull", &name]);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        d2.log_text()
    );
    let inspect: serde_json::Value = serde_json::from_str(&d2.ok(&["inspect", &name])).unwrap();
    let digests = inspect[0]["RepoDigests"].to_string();
    assert!(digests.contains(&pushed), "{digests} vs {pushed}");
    d2.ok(&["rmi", &name]);
    let ctx = dst_dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM {name}\nRUN echo pulled > /p\n"),
    )
    .unwrap();
    let out = d2.run(&[
        "build",
        "--progress",
        "rawjson",
        "-t",
        "frompull",
        ctx.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        d2.log_text()
    );
    assert_eq!(ran(&events(&out.stderr)), vec!["RUN echo pulled > /p"]);
    assert_eq!(d2.ok(&["run", "--rm", "frompull", "cat", "/p"]), "pulled\n");
}
