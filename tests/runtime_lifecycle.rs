//! Detached containers end to end with the busybox image: create/start under a monitor,
//! json-file logs (`-f`, `--tail`, `--since`, `-t`), exit codes, `ps` and its filters,
//! `stop` (stop signal, then SIGKILL), `kill -s`, `wait`, `rm [-f]`, names, `--rm`.

mod runtime_support;

use runtime_support::Rt;

#[test]
fn logs_of_a_detached_container_and_follow() {
    let rt = Rt::new();
    let id = rt.detached(&[
        "--name",
        "talker",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo line$i; echo err$i >&2; sleep 0.2; done",
    ]);
    // -f follows until the container exits, so it has every line.
    let out = rt.run(&["logs", "-f", "talker"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "line1\nline2\nline3\n"
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err1\nerr2\nerr3\n");
    assert_eq!(rt.ok(&["wait", &id]).trim(), "0");
    // --tail counts lines of both streams, as Docker's.
    let tail = rt.run(&["logs", "--tail", "2", "talker"]);
    assert_eq!(String::from_utf8_lossy(&tail.stdout), "line3\n");
    assert_eq!(String::from_utf8_lossy(&tail.stderr), "err3\n");
    let ts = rt.ok(&["logs", "-t", "--tail", "2", &id[..12]]);
    assert!(ts.ends_with("Z line3\n"), "{ts:?}");
    assert!(ts.starts_with("20"), "{ts:?}");
    // Nothing is newer than the future; everything is newer than an hour ago.
    assert_eq!(rt.ok(&["logs", "--since", "2999-01-01T00:00:00Z", &id]), "");
    assert_eq!(rt.ok(&["logs", "--since", "1h", &id]).lines().count(), 3);
    assert_eq!(rt.ok(&["logs", "--until", "1h", &id]), "");
    // The file is Docker's json-file format.
    let raw = std::fs::read_to_string(
        rt.root()
            .join("containers")
            .join(&id)
            .join("container-json.log"),
    )
    .unwrap();
    let first: serde_json::Value = serde_json::from_str(raw.lines().next().unwrap()).unwrap();
    assert_eq!(first["log"], "line1\n");
    assert_eq!(first["stream"], "stdout");
}

#[test]
fn exit_codes_and_ps_filters() {
    let rt = Rt::new();
    let a = rt.detached(&[
        "--name", "three", "-l", "tier=db", "busybox", "sh", "-c", "exit 3",
    ]);
    assert_eq!(rt.ok(&["wait", "three"]).trim(), "3");
    let b = rt.detached(&[
        "--name", "sleeper", "-l", "tier=web", "busybox", "sleep", "60",
    ]);
    let running = rt.ok(&["ps", "--format", "{{.Names}}"]);
    assert_eq!(running.trim(), "sleeper");
    let all = rt.ok(&["ps", "-a", "--format", "{{.Names}} {{.State}}"]);
    assert!(
        all.contains("three exited") && all.contains("sleeper running"),
        "{all}"
    );
    assert!(rt.field(&a, "{{.Status}}").starts_with("Exited (3) "));
    assert!(rt.field(&b, "{{.Status}}").starts_with("Up "));
    let q = rt.ok(&["ps", "-a", "-q"]);
    assert_eq!(q.lines().count(), 2);
    assert!(q.lines().all(|l| l.len() == 12));
    assert_eq!(rt.ok(&["ps", "-aq", "--no-trunc", "-l"]).trim(), b);
    assert_eq!(rt.ok(&["ps", "-q", "-n", "2"]).lines().count(), 2);
    let by = |f: &str| rt.ok(&["ps", "-a", "--filter", f, "--format", "{{.Names}}"]);
    assert_eq!(by("status=exited").trim(), "three");
    assert_eq!(by("label=tier=web").trim(), "sleeper");
    assert_eq!(by("label=tier").lines().count(), 2);
    assert_eq!(by("name=sle").trim(), "sleeper");
    assert_eq!(by("ancestor=busybox").lines().count(), 2);
    assert_eq!(by("ancestor=busybox:latest").lines().count(), 2);
    assert!(by("ancestor=other").is_empty());
    assert_eq!(by("exited=3").trim(), "three");
    assert!(by("exited=4").is_empty());
    assert_eq!(by("health=none").lines().count(), 2);
    assert!(rt.run(&["ps", "--filter", "status=bogus"]).status.code() == Some(125));
    let table = rt.ok(&["ps"]);
    assert!(table.starts_with("CONTAINER ID"), "{table}");
    assert!(table.contains("\"sleep 60\""), "{table}");
}

#[test]
fn stop_sends_the_stop_signal_then_kills() {
    let rt = Rt::new();
    // A shell that exits cleanly on SIGTERM.
    let polite = rt.detached(&[
        "busybox",
        "sh",
        "-c",
        "trap 'echo got-term; exit 0' TERM; echo ready; while true; do sleep 0.05; done",
    ]);
    rt.eventually("ready", || rt.ok(&["logs", &polite]).contains("ready"));
    rt.ok(&["stop", &polite]);
    assert_eq!(rt.field(&polite, "{{.State}}"), "exited");
    assert!(rt.ok(&["logs", &polite]).contains("got-term"));
    assert_eq!(rt.ok(&["wait", &polite]).trim(), "0");
    // --stop-signal is honoured.
    let usr1 = rt.detached(&[
        "--stop-signal",
        "USR1",
        "busybox",
        "sh",
        "-c",
        "trap 'echo got-usr1; exit 4' USR1; echo ready; while true; do sleep 0.05; done",
    ]);
    rt.eventually("ready", || rt.ok(&["logs", &usr1]).contains("ready"));
    rt.ok(&["stop", &usr1]);
    assert!(rt.ok(&["logs", &usr1]).contains("got-usr1"));
    assert_eq!(rt.ok(&["wait", &usr1]).trim(), "4");
    // pid 1 without a handler ignores SIGTERM: SIGKILL after the timeout (137).
    let stubborn = rt.detached(&["busybox", "sleep", "60"]);
    rt.ok(&["stop", "-t", "1", &stubborn]);
    assert_eq!(rt.ok(&["wait", &stubborn]).trim(), "137");
    // Stopping a stopped container is fine.
    rt.ok(&["stop", &stubborn]);
}

#[test]
fn kill_with_a_signal_and_errors_when_not_running() {
    let rt = Rt::new();
    let id = rt.detached(&[
        "busybox",
        "sh",
        "-c",
        "trap 'echo hup; exit 9' HUP; echo ready; while true; do sleep 0.05; done",
    ]);
    rt.eventually("ready", || rt.ok(&["logs", &id]).contains("ready"));
    rt.ok(&["kill", "-s", "HUP", &id]);
    assert_eq!(rt.ok(&["wait", &id]).trim(), "9");
    let (code, err) = rt.fails(&["kill", &id]);
    assert_eq!(code, 1);
    assert!(err.contains("is not running"), "{err}");
    let (_, err) = rt.fails(&["kill", "-s", "NOPE", &id]);
    assert!(err.contains("invalid signal"), "{err}");
    let k = rt.detached(&["busybox", "sleep", "60"]);
    rt.ok(&["kill", &k]);
    assert_eq!(rt.ok(&["wait", &k]).trim(), "137");
}

#[test]
fn names_are_unique_random_and_renamable() {
    let rt = Rt::new();
    rt.ok(&["create", "--name", "one", "busybox", "true"]);
    let (code, err) = rt.fails(&["create", "--name", "one", "busybox", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("already in use"), "{err}");
    let (_, err) = rt.fails(&["create", "--name", "bad/name", "busybox", "true"]);
    assert!(err.contains("invalid container name"), "{err}");
    let a = rt.ok(&["create", "busybox", "true"]).trim().to_string();
    let b = rt.ok(&["create", "busybox", "true"]).trim().to_string();
    let (na, nb) = (rt.field(&a, "{{.Names}}"), rt.field(&b, "{{.Names}}"));
    assert!(na.contains('_') && nb.contains('_'), "{na} {nb}");
    assert_eq!(rt.field(&a, "{{.State}}"), "created");
    rt.ok(&["rename", "one", "two"]);
    let (_, err) = rt.fails(&["rename", "two", &na]);
    assert!(err.contains("already in use"), "{err}");
    assert_eq!(
        rt.ok(&["ps", "-a", "--filter", "name=two", "--format", "{{.Names}}"])
            .trim(),
        "two"
    );
    let (code, err) = rt.fails(&["start", "nosuch"]);
    assert_eq!(code, 1);
    assert!(err.contains("no such container"), "{err}");
}

#[test]
fn rm_refuses_running_without_force_and_releases_the_image() {
    let rt = Rt::new();
    let id = rt.detached(&["busybox", "sleep", "60"]);
    let (_, err) = rt.fails(&["rm", &id]);
    assert!(err.contains("is running"), "{err}");
    // The image is held while a container uses it.
    assert!(!rt.run(&["rmi", "busybox"]).status.success());
    rt.ok(&["rm", "-f", &id]);
    assert!(!rt.root().join("containers").join(&id).exists());
    assert!(rt.ok(&["ps", "-aq"]).is_empty());
    assert!(rt.store_processes().is_empty());
    rt.ok(&["rmi", "busybox"]);
}

#[test]
fn auto_remove_and_start_failures() {
    let rt = Rt::new();
    let id = rt.detached(&["--rm", "busybox", "sh", "-c", "echo bye"]);
    let dir = rt.root().join("containers").join(&id);
    rt.eventually("--rm removal", || {
        rt.ok(&["ps", "-aq"]).is_empty() && !dir.exists()
    });
    // A command that does not exist: start fails with Docker's 127 reason recorded.
    let bad = rt
        .ok(&["create", "busybox", "/no/such/cmd"])
        .trim()
        .to_string();
    let (_, err) = rt.fails(&["start", &bad]);
    assert!(
        err.contains("no such file") || err.contains("not found"),
        "{err}"
    );
    assert_eq!(
        rt.field(&bad, "{{.Status}}").split(')').next(),
        Some("Exited (127")
    );
    let (code, err) = rt.fails(&["create", "--restart", "sometimes", "busybox"]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("invalid restart policy"), "{err}");
    let (code, _) = rt.fails(&["create", "--rm", "--restart", "always", "busybox"]);
    assert_eq!(code, 125);
}

#[test]
fn wait_on_a_created_container_waits_for_its_run() {
    let rt = Rt::new();
    let id = rt
        .ok(&["create", "busybox", "sh", "-c", "exit 12"])
        .trim()
        .to_string();
    let mut waiter =
        rt.k.cmd(&["wait", &id])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        waiter.try_wait().unwrap().is_none(),
        "wait returned before the start"
    );
    rt.ok(&["start", &id]);
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "12");
}
