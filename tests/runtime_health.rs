//! Health checks: `--health-*` flags and the image's HEALTHCHECK drive Docker's
//! starting / healthy / unhealthy states, shown by `ps` and `container inspect`.

mod runtime_support;

use runtime_support::Rt;

fn health(rt: &Rt, id: &str) -> String {
    rt.ok(&[
        "container",
        "inspect",
        "-f",
        "{{.State.Health.Status}} {{.State.Health.FailingStreak}}",
        id,
    ])
    .trim()
    .to_string()
}

#[test]
fn health_flags_drive_the_state() {
    let rt = Rt::new();
    let id = rt.detached(&[
        "--health-cmd",
        "test -e /tmp/ok",
        "--health-interval",
        "100ms",
        "--health-retries",
        "2",
        "busybox",
        "sleep",
        "60",
    ]);
    rt.eventually("unhealthy", || health(&rt, &id).starts_with("unhealthy"));
    assert!(rt.field(&id, "{{.Status}}").ends_with("(unhealthy)"));
    rt.ok(&["exec", &id, "touch", "/tmp/ok"]);
    rt.eventually("healthy", || health(&rt, &id) == "healthy 0");
    assert!(rt.field(&id, "{{.Status}}").ends_with("(healthy)"));
    let healthy = rt.ok(&["ps", "-q", "--no-trunc", "--filter", "health=healthy"]);
    assert_eq!(healthy.trim(), id);
    let log = rt.ok(&[
        "container",
        "inspect",
        "-f",
        "{{json .State.Health.Log}}",
        &id,
    ]);
    let entries: Vec<serde_json::Value> = serde_json::from_str(&log).unwrap();
    assert!(!entries.is_empty() && entries.len() <= 5);
    assert_eq!(entries.last().unwrap()["ExitCode"], 0);
}

#[test]
fn image_healthcheck_and_no_healthcheck() {
    let rt = Rt::new();
    let ctx = rt.k.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nHEALTHCHECK --interval=100ms --retries=1 CMD echo checked\n",
    )
    .unwrap();
    rt.ok(&["build", "-q", "-t", "hc", ctx.to_str().unwrap()]);
    let id = rt.detached(&["hc", "sleep", "60"]);
    rt.eventually("healthy from the image's check", || {
        health(&rt, &id) == "healthy 0"
    });
    let out = rt.ok(&[
        "container",
        "inspect",
        "-f",
        "{{json .State.Health.Log}}",
        &id,
    ]);
    assert!(out.contains("checked"), "{out}");
    let off = rt.detached(&["--no-healthcheck", "hc", "sleep", "60"]);
    assert_eq!(
        rt.ok(&["container", "inspect", "-f", "{{json .State.Health}}", &off])
            .trim(),
        "null"
    );
    assert!(rt.field(&off, "{{.Status}}").starts_with("Up"));
    assert!(!rt.field(&off, "{{.Status}}").contains("health"));
}
