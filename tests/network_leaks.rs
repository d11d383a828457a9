//! Nothing of kiln's networking outlives its containers and networks: after a mixed
//! scenario (default bridge with published ports, a user network, links, a monitor killed
//! with SIGKILL, `rm -f` of running containers) the host has none of the store's veths,
//! bridges, pinned namespaces, nftables tables or port-proxy processes.

mod network_support;

use network_support::{free_port, link_exists, nft_table_exists, Net};

#[test]
fn nothing_is_left_behind() {
    let net = Net::new();
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    let web = net.run_d(&[
        "--name", "web", "-p", &publish, "busybox", "httpd", "-f", "-p", "80", "-h", "/etc",
    ]);
    net.ok(&["network", "create", "--subnet", "10.214.9.0/24", "leaknet"]);
    let a = net.run_d(&["--network", "leaknet", "busybox", "sleep", "300"]);
    let _linked = net.run_d(&["--link", "web:w", "busybox", "sleep", "300"]);
    let names = net.names();
    assert!(
        link_exists(&names.bridge),
        "default bridge {} missing",
        names.bridge
    );
    assert!(nft_table_exists("inet", &names.table));
    let veths = net.host_veths();
    assert_eq!(veths.len(), 3, "{veths:?}");
    assert!(veths.iter().all(|v| link_exists(v)));
    let leak_bridge = net
        .ok(&["network", "inspect", "leaknet"])
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("\"com.docker.network.bridge.name\": \"")
                .map(|r| r.trim_end_matches([',', '"']).to_string())
        })
        .unwrap();
    assert!(link_exists(&leak_bridge));

    // A monitor killed outright cannot clean up; the next reader of the record does.
    let monitor: i32 = net.inspect(&a, "{{.State.Pid}}").parse().unwrap();
    assert!(monitor > 0);
    let mon_pid = std::fs::read_to_string(format!("/proc/{monitor}/status"))
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("PPid:")
                .map(|p| p.trim().parse::<i32>().unwrap())
        })
        .unwrap();
    // The init's parent is the executor's helper; its parent is the monitor.
    let monitor_pid = std::fs::read_to_string(format!("/proc/{mon_pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("PPid:")
                .map(|p| p.trim().parse::<i32>().unwrap())
        })
        .unwrap();
    let cmdline = std::fs::read(format!("/proc/{monitor_pid}/cmdline")).unwrap();
    assert!(String::from_utf8_lossy(&cmdline).starts_with("kiln-container-monitor"));
    nix_kill(monitor_pid);
    net.eventually("the killed container to read as exited", || {
        net.inspect(&a, "{{.State.Status}}") == "exited"
    });
    assert_eq!(net.host_veths().len(), 2, "{:?}", net.host_veths());
    assert!(!net.netns_dir().join(&a).exists());

    // rm -f of running containers, then the networks.
    for id in net.ok(&["ps", "-aq", "--no-trunc"]).split_whitespace() {
        net.ok(&["rm", "-f", id]);
    }
    net.ok(&["network", "rm", "leaknet"]);
    net.ok(&["network", "rm", "bridge"]);
    for v in &veths {
        assert!(!link_exists(v), "veth {v} left behind");
    }
    assert!(
        !link_exists(&names.bridge),
        "bridge {} left behind",
        names.bridge
    );
    assert!(
        !link_exists(&leak_bridge),
        "bridge {leak_bridge} left behind"
    );
    for family in ["inet", "bridge"] {
        assert!(
            !nft_table_exists(family, &names.table),
            "nft table {family} {} left",
            names.table
        );
    }
    let pinned: Vec<_> = std::fs::read_dir(net.netns_dir())
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(pinned.is_empty(), "{pinned:?}");
    assert!(
        net.rt.store_mounts().is_empty(),
        "{:?}",
        net.rt.store_mounts()
    );
    // The port proxy lived in the monitors: no process of the store, nothing listening.
    assert!(
        net.rt.store_processes().is_empty(),
        "{:?}",
        net.rt.store_processes()
    );
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    let _ = web;
}

/// What a reboot does to kiln's networking: processes die, mounts and kernel objects
/// (bridges, veths, nftables rules) vanish, files (state.json, the pinned namespace's mount
/// point) stay. Readers clean the stale records; the next start brings the bridge and rules
/// back.
#[test]
fn a_reboot_leaves_nothing_stale() {
    let net = Net::new();
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    let id = net.run_d(&[
        "-p", &publish, "busybox", "httpd", "-f", "-p", "80", "-h", "/etc",
    ]);
    let names = net.names();
    let veths = net.host_veths();
    assert_eq!(veths.len(), 1);
    let pinned = net.netns_dir().join(&id);
    // "Reboot": every process of the store dies, the namespace's mount and kiln's kernel
    // objects go; the files stay.
    for pid in net.rt.store_processes() {
        nix_kill(pid);
    }
    net.eventually("the monitor to die", || net.rt.store_processes().is_empty());
    let st = std::process::Command::new("umount")
        .arg(&pinned)
        .status()
        .unwrap();
    assert!(st.success());
    net.eventually("the veth to go with its namespace", || {
        !link_exists(&veths[0])
    });
    for args in [
        vec!["ip", "link", "del", names.bridge.as_str()],
        vec!["nft", "delete", "table", "inet", names.table.as_str()],
    ] {
        let st = std::process::Command::new(args[0])
            .args(&args[1..])
            .status()
            .unwrap();
        assert!(st.success(), "{args:?}");
    }
    assert!(pinned.exists(), "the mount point file stays after a reboot");
    // The first reader marks the container exited and releases its endpoint.
    assert_eq!(net.inspect(&id, "{{.State.Status}}"), "exited");
    assert!(net.host_veths().is_empty(), "{:?}", net.host_veths());
    assert!(!pinned.exists());
    // Starting again recreates the bridge and rules and publishes the port again.
    net.ok(&["start", &id]);
    assert!(link_exists(&names.bridge));
    assert!(nft_table_exists("inet", &names.table));
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(network_support::http_get(addr, "/hostname").contains("200 OK"));
}

fn nix_kill(pid: i32) {
    let st = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}
