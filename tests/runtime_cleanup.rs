//! After containers ran, stopped, crashed, restarted, were exec'ed into and removed, the host
//! has nothing of them left: no processes, no mounts, no cgroups, no state directories.

mod runtime_support;

use runtime_support::Rt;

#[test]
fn no_leftover_processes_mounts_or_cgroups() {
    let rt = Rt::new();
    let mut ids = vec![
        rt.detached(&["busybox", "sleep", "60"]),
        rt.detached(&["--restart", "always", "busybox", "sh", "-c", "sleep 0.1"]),
        rt.detached(&[
            "-v",
            "vol:/v",
            "busybox",
            "sh",
            "-c",
            "echo x > /v/x; sleep 60",
        ]),
        rt.detached(&["--rm", "busybox", "true"]),
    ];
    let quick = rt.detached(&["busybox", "true"]);
    ids.push(quick.clone());
    rt.ok(&["exec", "-d", &ids[0], "sleep", "60"]);
    rt.ok(&["stop", "-t", "0", &ids[2]]);
    assert!(!rt.store_processes().is_empty());
    assert!(!Rt::cgroups_of(&ids).is_empty());
    rt.ok(&["wait", &quick]);
    for id in rt.ok(&["ps", "-aq", "--no-trunc"]).split_whitespace() {
        rt.ok(&["rm", "-f", "-v", id]);
    }
    assert!(
        rt.store_processes().is_empty(),
        "{:?}",
        rt.store_processes()
    );
    assert!(rt.store_mounts().is_empty(), "{:?}", rt.store_mounts());
    assert!(
        Rt::cgroups_of(&ids).is_empty(),
        "{:?}",
        Rt::cgroups_of(&ids)
    );
    let exec_state: Vec<_> = std::fs::read_dir(rt.root().join("exec"))
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(exec_state.is_empty(), "{exec_state:?}");
    let containers: Vec<_> = std::fs::read_dir(rt.root().join("containers"))
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(containers.is_empty(), "{containers:?}");
}
