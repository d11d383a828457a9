//! Restart policies with exponential backoff, `stop` ending them, `restart`, and the state
//! of a container whose monitor died (shown exited, nothing left running).

mod runtime_support;

use runtime_support::Rt;

fn log_times(rt: &Rt, id: &str) -> Vec<f64> {
    rt.ok(&["logs", "-t", id])
        .lines()
        .map(|l| {
            // 2026-01-02T03:04:05.123456789Z run
            let ts = l.split(' ').next().unwrap();
            let secs = &ts[17..ts.len() - 1];
            let min: f64 = ts[14..16].parse().unwrap();
            let hour: f64 = ts[11..13].parse().unwrap();
            hour * 3600.0 + min * 60.0 + secs.parse::<f64>().unwrap()
        })
        .collect()
}

#[test]
fn on_failure_restarts_with_backoff_up_to_the_limit() {
    let rt = Rt::new();
    let id = rt.detached(&[
        "--restart",
        "on-failure:3",
        "busybox",
        "sh",
        "-c",
        "echo run; exit 2",
    ]);
    rt.eventually("three restarts", || {
        rt.ok(&[
            "container",
            "inspect",
            "-f",
            "{{.State.Status}} {{.RestartCount}}",
            &id,
        ])
        .trim()
            == "exited 3"
    });
    assert_eq!(rt.ok(&["wait", &id]).trim(), "2");
    let t = log_times(&rt, &id);
    assert_eq!(t.len(), 4, "one run plus three restarts");
    // Backoff doubles: at least 100 ms, 200 ms, 400 ms between runs.
    for (i, min) in [0.1, 0.2, 0.4].iter().enumerate() {
        let gap = t[i + 1] - t[i];
        assert!(
            gap >= *min,
            "gap {i} was {gap}s, want at least {min}s: {t:?}"
        );
    }
    // Success does not restart under on-failure.
    let ok = rt.detached(&["--restart", "on-failure", "busybox", "true"]);
    assert_eq!(rt.ok(&["wait", &ok]).trim(), "0");
    assert_eq!(
        rt.ok(&["container", "inspect", "-f", "{{.RestartCount}}", &ok])
            .trim(),
        "0"
    );
}

#[test]
fn always_restarts_until_stopped() {
    let rt = Rt::new();
    let id = rt.detached(&[
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "echo run; exit 0",
    ]);
    rt.eventually("two restarts", || {
        rt.ok(&["logs", &id]).lines().count() >= 3
    });
    rt.ok(&["stop", "-t", "1", &id]);
    assert_eq!(
        rt.ok(&["container", "inspect", "-f", "{{.State.Status}}", &id])
            .trim(),
        "exited"
    );
    let n = rt.ok(&["logs", &id]).lines().count();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        rt.ok(&["logs", &id]).lines().count(),
        n,
        "restarted after stop"
    );
    assert!(rt.store_processes().is_empty());
    // `restart` starts it again (and the policy applies again).
    rt.ok(&["restart", &id]);
    rt.eventually("runs again", || rt.ok(&["logs", &id]).lines().count() > n);
}

#[test]
fn a_dead_monitor_shows_the_container_exited() {
    let rt = Rt::new();
    let id = rt.detached(&["busybox", "sleep", "60"]);
    let pid: i32 = rt
        .ok(&["container", "inspect", "-f", "{{.State.Pid}}", &id])
        .trim()
        .parse()
        .unwrap();
    assert!(pid > 0);
    let monitors: Vec<i32> = rt
        .store_processes()
        .into_iter()
        .filter(|p| {
            let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
            String::from_utf8_lossy(&cmd).starts_with("kiln-container-monitor")
        })
        .collect();
    assert_eq!(monitors.len(), 1, "one monitor per container");
    std::process::Command::new("kill")
        .args(["-9", &monitors[0].to_string()])
        .status()
        .unwrap();
    rt.eventually("the container to die with its monitor", || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    });
    let state = rt.ok(&[
        "container",
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        &id,
    ]);
    assert_eq!(state.trim(), "exited 255");
    assert!(rt.ok(&["ps", "-q"]).is_empty());
    // It can be started again.
    rt.ok(&["start", &id]);
    assert_eq!(rt.field(&id, "{{.State}}"), "running");
}

#[test]
fn concurrent_starts_make_one_monitor_and_stale_state_is_cleared() {
    let rt = Rt::new();
    let id = rt
        .ok(&["create", "busybox", "sleep", "60"])
        .trim()
        .to_string();
    // What a host crash leaves: the executor's state directory for this id.
    let stale = rt.root().join("exec").join(&id);
    std::fs::create_dir_all(stale.join("etc")).unwrap();
    std::fs::create_dir_all(stale.join("rootfs")).unwrap();
    std::fs::write(stale.join("etc/hosts"), "old").unwrap();
    let starts: Vec<_> = (0..3)
        .map(|_| {
            rt.stdin_null(&["start", &id])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for s in starts {
        assert!(s.wait_with_output().unwrap().status.success());
    }
    assert_eq!(rt.field(&id, "{{.State}}"), "running");
    let monitors = rt
        .store_processes()
        .into_iter()
        .filter(|p| {
            let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
            String::from_utf8_lossy(&cmd).starts_with("kiln-container-monitor")
        })
        .count();
    assert_eq!(monitors, 1);
}
