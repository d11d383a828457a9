//! `top`, `stats --no-stream`, `pause`/`unpause` (freezer), and `container inspect` with
//! State (OOMKilled, ExitCode), Config, HostConfig and Mounts.

mod runtime_support;

use runtime_support::Rt;

#[test]
fn top_stats_pause_unpause() {
    let rt = Rt::new();
    let id = rt.detached(&[
        "busybox",
        "sh",
        "-c",
        "while true; do echo tick; sleep 0.05; done",
    ]);
    let top = rt.ok(&["top", &id]);
    assert!(top.starts_with("UID"), "{top}");
    assert!(top.contains("while true"), "{top}");
    let stats = rt.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}} {{.MemUsage}}",
        &id,
    ]);
    let name = rt.field(&id, "{{.Names}}");
    assert!(stats.starts_with(&format!("{name} ")), "{stats}");
    let pids: u32 = stats.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(pids >= 1, "{stats}");
    rt.ok(&["pause", &id]);
    assert_eq!(rt.field(&id, "{{.State}}"), "paused");
    // Frozen: no new output while paused (after what was already in the pipe is logged).
    std::thread::sleep(std::time::Duration::from_millis(200));
    let before = rt.ok(&["logs", &id]).lines().count();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(rt.ok(&["logs", &id]).lines().count(), before);
    let (_, err) = rt.fails(&["pause", &id]);
    assert!(err.contains("not running"), "{err}");
    rt.ok(&["unpause", &id]);
    assert_eq!(rt.field(&id, "{{.State}}"), "running");
    rt.eventually("output again", || {
        rt.ok(&["logs", &id]).lines().count() > before
    });
    // Stopping a paused container works (it is thawed first) and leaves no freezer cgroup.
    rt.ok(&["pause", &id]);
    rt.ok(&["stop", "-t", "1", &id]);
    assert_eq!(rt.field(&id, "{{.State}}"), "exited");
    assert!(Rt::cgroups_of(std::slice::from_ref(&id)).is_empty());
}

#[test]
fn inspect_shows_state_config_and_mounts() {
    let rt = Rt::new();
    let host = rt.k.path("bind");
    std::fs::create_dir_all(&host).unwrap();
    let bind = format!("{}:/b:ro", host.display());
    let id = rt.detached(&[
        "--name",
        "insp",
        "-e",
        "K=v",
        "-l",
        "a=b",
        "--restart",
        "on-failure:2",
        "-v",
        &bind,
        "-v",
        "named:/n",
        "busybox",
        "sh",
        "-c",
        "exit 5",
    ]);
    rt.ok(&["wait", &id]);
    rt.eventually("retries done", || {
        rt.ok(&["container", "inspect", "-f", "{{.State.Status}}", &id])
            .trim()
            == "exited"
    });
    let v: serde_json::Value =
        serde_json::from_str(&rt.ok(&["container", "inspect", "insp"])).unwrap();
    let c = &v[0];
    assert_eq!(c["Id"], id.as_str());
    assert_eq!(c["Name"], "/insp");
    assert_eq!(c["State"]["ExitCode"], 5);
    assert_eq!(c["State"]["OOMKilled"], false);
    assert_eq!(c["State"]["Running"], false);
    assert_eq!(c["RestartCount"], 2);
    assert_eq!(c["Path"], "sh");
    assert!(c["Config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "K=v"));
    assert_eq!(c["Config"]["Labels"]["a"], "b");
    assert_eq!(c["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(c["HostConfig"]["RestartPolicy"]["MaximumRetryCount"], 2);
    let mounts = c["Mounts"].as_array().unwrap();
    assert_eq!(mounts.len(), 2);
    assert_eq!(mounts[0]["Type"], "bind");
    assert_eq!(mounts[0]["RW"], false);
    assert_eq!(mounts[1]["Type"], "volume");
    assert_eq!(mounts[1]["Name"], "named");
}

#[test]
fn memory_limit_gives_137_and_oom_killed() {
    let rt = Rt::new();
    let id = rt.detached(&[
        "-m",
        "16m",
        "busybox",
        "sh",
        "-c",
        "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done",
    ]);
    assert_eq!(rt.ok(&["wait", &id]).trim(), "137");
    let st = rt.ok(&[
        "container",
        "inspect",
        "-f",
        "{{.State.OOMKilled}} {{.HostConfig.Memory}}",
        &id,
    ]);
    assert_eq!(st.trim(), format!("true {}", 16 << 20));
}

#[test]
fn update_changes_live_limits_and_prune_removes_stopped() {
    let rt = Rt::new();
    let id = rt.detached(&["-m", "32m", "--pids-limit", "50", "busybox", "sleep", "60"]);
    rt.ok(&[
        "update",
        "-m",
        "48m",
        "--pids-limit",
        "20",
        "--cpus",
        "0.5",
        "--restart",
        "on-failure:1",
        &id,
    ]);
    let pid = rt.ok(&["container", "inspect", "-f", "{{.State.Pid}}", &id]);
    let cgroup = std::fs::read_to_string(format!("/proc/{}/cgroup", pid.trim())).unwrap();
    // The container's own cgroups (kiln-<id>) now carry the new limits.
    let find = |ctrl: &str| {
        let line = cgroup
            .lines()
            .find(|l| {
                l.split(':')
                    .nth(1)
                    .is_some_and(|c| c.split(',').any(|x| x == ctrl))
            })
            .unwrap();
        let path = line.splitn(3, ':').nth(2).unwrap();
        std::path::PathBuf::from(format!("/sys/fs/cgroup/{ctrl}{path}"))
    };
    if !std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        let mem = std::fs::read_to_string(find("memory").join("memory.limit_in_bytes")).unwrap();
        assert_eq!(mem.trim(), (48u64 << 20).to_string());
        let pids = std::fs::read_to_string(find("pids").join("pids.max")).unwrap();
        assert_eq!(pids.trim(), "20");
    }
    let hc = rt.ok(&[
        "container",
        "inspect",
        "-f",
        "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}",
        &id,
    ]);
    assert_eq!(hc.trim(), format!("{} 20 on-failure", 48u64 << 20));
    // Prune keeps the running one and removes stopped and created ones.
    let stopped = rt.detached(&["busybox", "true"]);
    rt.ok(&["wait", &stopped]);
    let created = rt.ok(&["create", "busybox", "true"]).trim().to_string();
    let out = rt.ok(&["container", "prune", "-f"]);
    assert!(out.contains(&stopped) && out.contains(&created), "{out}");
    assert_eq!(rt.ok(&["ps", "-aq", "--no-trunc"]).trim(), id);
}
