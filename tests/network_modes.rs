//! `--network none|host|container:<id>`, `--dns`/`--dns-search`/`--add-host` in the
//! container's files, `--ip`/`--mac-address`, and inspect's NetworkSettings.

mod network_support;

use network_support::Net;

fn names(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text.split_whitespace().map(str::to_string).collect();
    v.sort();
    v
}

#[test]
fn none_has_only_loopback_and_host_sees_the_hosts_interfaces() {
    let net = Net::new();
    // Both the foreground path and the runtime (-d) path.
    assert_eq!(
        names(&net.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "ls",
            "/sys/class/net"
        ])),
        vec!["lo"]
    );
    let id = net.run_d(&["--network", "none", "busybox", "sleep", "300"]);
    assert_eq!(names(&net.exec(&id, "ls /sys/class/net").0), vec!["lo"]);
    assert_eq!(net.inspect(&id, "{{.HostConfig.NetworkMode}}"), "none");
    let host: Vec<String> = {
        let mut v: Vec<String> = std::fs::read_dir("/sys/class/net")
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let id = net.run_d(&["--network", "host", "busybox", "sleep", "300"]);
    let seen = names(&net.exec(&id, "ls /sys/class/net").0);
    // Interfaces of parallel tests may come and go; the host's own ones must all be there.
    for i in host
        .iter()
        .filter(|i| !i.starts_with("kv") && !i.starts_with("kb-"))
    {
        assert!(seen.contains(i), "host interface {i} missing in {seen:?}");
    }
}

#[test]
fn dns_and_add_host_land_in_the_containers_files() {
    let net = Net::new();
    let out = net.ok(&[
        "run",
        "--rm",
        "--dns",
        "10.9.9.9",
        "--dns-search",
        "example.test",
        "--dns-option",
        "ndots:3",
        "--add-host",
        "db.local:10.1.2.3",
        "busybox",
        "sh",
        "-c",
        "cat /etc/resolv.conf; echo ---; cat /etc/hosts",
    ]);
    let (resolv, hosts) = out.split_once("---\n").unwrap();
    assert!(
        resolv.lines().any(|l| l == "nameserver 10.9.9.9"),
        "{resolv}"
    );
    assert!(
        resolv.lines().any(|l| l == "search example.test"),
        "{resolv}"
    );
    assert!(resolv.lines().any(|l| l == "options ndots:3"), "{resolv}");
    assert!(!resolv.contains("nameserver 127."), "{resolv}");
    assert!(hosts.lines().any(|l| l == "10.1.2.3\tdb.local"), "{hosts}");
    assert!(
        hosts.lines().any(|l| l.starts_with("127.0.0.1\tlocalhost")),
        "{hosts}"
    );
    // --dns also applies without a bridge.
    let out = net.ok(&[
        "run",
        "--rm",
        "--name",
        "quiet",
        "--network",
        "none",
        "--dns",
        "10.8.8.8",
        "busybox",
        "cat",
        "/etc/resolv.conf",
    ]);
    assert!(out.lines().any(|l| l == "nameserver 10.8.8.8"), "{out}");
}

#[test]
fn fixed_address_mac_and_shared_namespace() {
    let net = Net::new();
    net.ok(&["network", "create", "--subnet", "10.214.4.0/24", "fixed"]);
    let id = net.run_d(&[
        "--name",
        "pinned",
        "--network",
        "fixed",
        "--ip",
        "10.214.4.50",
        "--mac-address",
        "02:42:0a:d6:04:32",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    assert_eq!(
        net.inspect(&id, "{{.NetworkSettings.IPAddress}}"),
        "10.214.4.50"
    );
    assert_eq!(
        net.inspect(&id, "{{.NetworkSettings.MacAddress}}"),
        "02:42:0a:d6:04:32"
    );
    assert_eq!(
        net.inspect(&id, "{{.NetworkSettings.Gateway}}"),
        "10.214.4.1"
    );
    let (link, _) = net.exec(&id, "cat /sys/class/net/eth0/address");
    assert_eq!(link.trim(), "02:42:0a:d6:04:32");
    // The same address twice is refused.
    let (code, err) = net.fails(&[
        "run",
        "-d",
        "--network",
        "fixed",
        "--ip",
        "10.214.4.50",
        "busybox",
        "true",
    ]);
    assert_eq!(code, 125, "{err}");
    // container:<name> shares the namespace: httpd answers on the sharer's loopback.
    let out = net.ok(&[
        "run", "--rm", "--network", "container:pinned", "busybox", "sh", "-c",
        "timeout 5 wget -q -O - http://127.0.0.1/hostname >/dev/null && echo reached; ip -o -4 addr show eth0",
    ]);
    assert!(out.contains("reached"), "{out}");
    assert!(out.contains("10.214.4.50/24"), "{out}");
}
