//! Image events in `kiln events`: pull, push (against a real docker-registry), tag, untag
//! and delete, including the tag of an image a build created.

mod registry_support;
mod runtime_support;

use registry_support::Registry;
use runtime_support::{image_events, unix_now, Rt};

#[test]
fn tag_untag_delete_build_pull_and_push_are_events() {
    let rt = Rt::new();
    let start = unix_now();
    let id = rt
        .ok(&["inspect", "-f", "{{.Id}}", "busybox"])
        .trim()
        .to_string();
    rt.ok(&["tag", "busybox", "mine:1"]);
    rt.ok(&["rmi", "mine:1"]);
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN echo hi > /f\n",
    )
    .unwrap();
    let built = rt
        .ok(&["build", "-q", "-t", "built:1", ctx.path().to_str().unwrap()])
        .trim()
        .to_string();
    rt.ok(&["rmi", "built:1"]);

    let evs = image_events(&rt, &start, &[]);
    let want = [
        ("tag", id.as_str(), "docker.io/library/mine:1"),
        ("untag", id.as_str(), "docker.io/library/mine:1"),
        ("tag", built.as_str(), "docker.io/library/built:1"),
        ("untag", built.as_str(), "docker.io/library/built:1"),
        ("delete", built.as_str(), built.as_str()),
    ];
    let got: Vec<(&str, &str, &str)> = evs
        .iter()
        .map(|(a, i, n)| (a.as_str(), i.as_str(), n.as_str()))
        .collect();
    assert_eq!(got, want, "all events: {evs:?}");
    // --filter image= narrows to one image's events.
    let only = image_events(&rt, &start, &["--filter", "image=mine:1"]);
    assert_eq!(only.len(), 2, "{only:?}");

    let reg = Registry::start();
    let name = format!("{}/ev/busybox:1", reg.addr);
    let mark = unix_now();
    rt.ok(&["tag", "busybox", &name]);
    rt.ok(&["push", "-q", &name]);
    rt.ok(&["rmi", &name]);
    rt.ok(&["pull", "-q", &name]);
    let evs = image_events(&rt, &mark, &[]);
    let actions: Vec<&str> = evs.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(actions, ["tag", "push", "untag", "tag", "pull"], "{evs:?}");
    assert_eq!(evs[1].1, name);
    assert_eq!(evs[4].1, name);
}
