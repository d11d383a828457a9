//! A plain foreground `kiln run IMAGE` (no -d, no network flag) is on the default bridge,
//! as Docker's is: its own eth0 with an address of the bridge's subnet, reaching other
//! containers there; nothing of it stays after it exits, and a run killed outright is
//! reclaimed by the next kiln command that needs the network.

mod network_support;

use network_support::{link_exists, Net};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn sorted(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text.split_whitespace().map(str::to_string).collect();
    v.sort();
    v
}

/// The default network's subnet prefix, e.g. "172.18." for 172.18.0.0/16.
fn bridge_prefix(net: &Net) -> String {
    // Docker users' way to read it: a range in an inspect template.
    let subnet = net.ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .IPAM.Config}}{{.Subnet}}{{end}}",
        "bridge",
    ]);
    let subnet = subnet.trim();
    let octets: Vec<&str> = subnet.split('.').collect();
    assert!(octets.len() == 4, "subnet {subnet:?}");
    format!("{}.{}.", octets[0], octets[1])
}

fn foreground_leftovers(net: &Net) -> Vec<PathBuf> {
    let root = net.rt.root();
    let mut left = Vec::new();
    for dir in ["network/netns", "network/foreground"] {
        if let Ok(d) = std::fs::read_dir(root.join(dir)) {
            left.extend(d.flatten().map(|e| e.path()));
        }
    }
    left
}

#[test]
fn a_plain_foreground_run_is_on_the_default_bridge() {
    let net = Net::new();
    // Something to talk to on the bridge: a detached web server.
    let web = net.run_d(&["busybox", "httpd", "-f", "-p", "80", "-h", "/etc"]);
    let web_ip = net.inspect(&web, "{{.NetworkSettings.IPAddress}}");
    let out = net.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        &format!(
            "ls /sys/class/net; echo ---; ip -4 -o addr show eth0; echo ---; hostname; \
             echo ---; cat /etc/hosts; echo ---; wget -q -O - http://{web_ip}/hostname"
        ),
    ]);
    let parts: Vec<&str> = out.split("---\n").collect();
    assert_eq!(parts.len(), 5, "{out}");
    assert_eq!(sorted(parts[0]), vec!["eth0", "lo"], "{out}");
    let prefix = bridge_prefix(&net);
    let addr = parts[1]
        .split_whitespace()
        .find_map(|w| w.split_once('/').map(|(a, _)| a))
        .unwrap_or_default()
        .to_string();
    assert!(
        addr.starts_with(&prefix),
        "eth0 {addr:?} not in {prefix}*: {out}"
    );
    assert_ne!(addr, web_ip, "two containers got one address");
    // Docker's hostname: the container id's first 12 characters, in its own hosts file.
    let hostname = parts[2].trim();
    assert_eq!(hostname.len(), 12, "{out}");
    assert!(hostname.chars().all(|c| c.is_ascii_hexdigit()), "{out}");
    assert!(
        parts[3]
            .lines()
            .any(|l| sorted(l) == sorted(&format!("{addr} {hostname}"))),
        "{out}"
    );
    // The web container's /etc/hostname, fetched over the bridge.
    assert_eq!(parts[4].trim(), web.get(..12).unwrap_or_default(), "{out}");
    assert!(
        foreground_leftovers(&net).iter().all(|p| p.ends_with(&web)),
        "{:?}",
        foreground_leftovers(&net)
    );
    let veths = net.host_veths();
    assert_eq!(
        veths.len(),
        1,
        "only the web server's endpoint stays: {veths:?}"
    );
    // The run's veth goes with its namespace (the kernel removes it in the background).
    let ports = std::path::Path::new("/sys/class/net")
        .join(net.names().bridge)
        .join("brif");
    net.eventually("the foreground run's veth to leave the bridge", || {
        std::fs::read_dir(&ports).map(|d| d.count()).unwrap_or(0) == 1
    });

    // `--network host` in the foreground still sees the host's interfaces.
    let seen = sorted(&net.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "ls",
        "/sys/class/net",
    ]));
    let host_ifaces: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("kv") && !n.starts_with("kb-"))
        .collect();
    for i in &host_ifaces {
        assert!(seen.contains(i), "host interface {i} missing in {seen:?}");
    }
}

#[test]
fn a_killed_foreground_run_is_reclaimed() {
    let net = Net::new();
    let lock_dir = net.rt.root().join("network/foreground");
    let mut child = net
        .rt
        .k
        .cmd(&["run", "busybox", "sleep", "300"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed below; reaped here whatever happens.
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let id = loop {
        let found = std::fs::read_dir(&lock_dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .find(|n| !n.starts_with('.'))
            })
            .unwrap_or_default();
        if let (Some(id), 1) = (&found, net.host_veths().len()) {
            break id.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the foreground run never got its network"
        );
        if let Ok(Some(st)) = child.try_wait() {
            panic!("kiln run ended early: {st}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    child.kill().unwrap();
    let _reap = Reap(child);
    let veth = net.host_veths().pop().unwrap();
    assert!(link_exists(&veth));
    assert!(net.netns_dir().join(&id).exists());

    // The next foreground run reclaims it (and cleans up after itself).
    let out = net.ok(&["run", "--rm", "busybox", "ls", "/sys/class/net"]);
    assert_eq!(sorted(&out), vec!["eth0", "lo"]);
    assert!(
        !link_exists(&veth),
        "veth {veth} of the killed run left behind"
    );
    assert!(net.host_veths().is_empty(), "{:?}", net.host_veths());
    assert!(
        foreground_leftovers(&net).is_empty(),
        "{:?}",
        foreground_leftovers(&net)
    );
    assert!(
        net.rt.store_mounts().is_empty(),
        "{:?}",
        net.rt.store_mounts()
    );
    // With nothing left on it, the default network can go.
    net.ok(&["network", "rm", "bridge"]);
    assert!(!link_exists(&net.names().bridge));
}
