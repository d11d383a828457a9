//! Traffic rules: networks isolated from each other (checked with forwarding on, inside a
//! sandbox namespace that plays the host, so the real host's forwarding setting is never
//! touched), `icc=false` with links, and the masquerade/internal rules' shape.

mod common;

use common::{shared_host, tcp_roundtrip, unique, Env, LeakCheck, Netns, NsServer};
use kiln_network::links::{link_env, LinkTarget};
use kiln_network::ports::parse_publish;
use kiln_network::{PortProxy, Proto};
use nix::sched::{setns, CloneFlags};

/// Runs `f` on a thread inside the namespace `sandbox`: bridges, routes, nftables tables
/// and sysctls it makes all land there.
fn in_sandbox<T: Send>(sandbox: &Netns, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = std::fs::File::open(&sandbox.path).expect("open sandbox");
            setns(&file, CloneFlags::CLONE_NEWNET).expect("enter sandbox");
            f()
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

#[test]
fn networks_are_isolated_even_with_forwarding_on() {
    let _host = shared_host();
    let host_forward = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let leak = LeakCheck::new(&unique());
    let sandbox = Netns::new(&format!("{}h", leak.prefix));
    in_sandbox(&sandbox, || {
        let mut env = Env::new(&leak, "10.213.30.0/24");
        env.mgr = kiln_network::NetworkManager::open({
            let mut c = common::config(env.dir.path(), &leak.prefix, "10.213.30.0/24");
            c.ip_forward = true;
            c
        })
        .unwrap();
        let n1 = env.network("p", "10.213.31.0/24", |_| {});
        let n2 = env.network("q", "10.213.32.0/24", |_| {});
        assert_eq!(
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
                .unwrap()
                .trim(),
            "1"
        );
        let a = Netns::new(&format!("{}a", leak.prefix));
        let b = Netns::new(&format!("{}b", leak.prefix));
        let c = Netns::new(&format!("{}c", leak.prefix));
        env.attach(&a, &n1.name, |_| {});
        let ip_b = env.attach(&b, &n2.name, |_| {}).endpoint.ip.to_string();
        let ip_c = env.attach(&c, &n1.name, |_| {}).endpoint.ip.to_string();
        assert!(a.ping(&ip_c), "same network must connect");
        assert!(!a.ping(&ip_b), "a on {} reached b on {}", n1.name, n2.name);
        // Control: without kiln's rules the same packet is routed, so the rules did it.
        env.mgr.firewall().remove().unwrap();
        assert!(
            a.ping(&ip_b),
            "without rules the networks should route to each other"
        );
        env.mgr.restore().unwrap();
        assert!(!a.ping(&ip_b), "isolation not restored");
    });
    drop(sandbox);
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        host_forward,
        "host forwarding changed"
    );
}

#[test]
fn icc_false_blocks_the_bridge_except_links_and_published_ports() {
    let _host = shared_host();
    let leak = LeakCheck::new(&unique());
    let env = Env::new(&leak, "10.213.33.0/24");
    let net = env.network("n", "10.213.34.0/24", |r| r.icc = false);
    let a = Netns::new(&format!("{}a", leak.prefix));
    let b = Netns::new(&format!("{}b", leak.prefix));
    let c = Netns::new(&format!("{}c", leak.prefix));
    let ip_a = env.attach(&a, &net.name, |_| {}).endpoint.ip;
    let ip_b = env.attach(&b, &net.name, |_| {}).endpoint.ip;
    let att = env.attach(&c, &net.name, |r| {
        r.links = vec![(a.name.clone(), "web".into())];
        r.hosts_file = Some(c.hosts_file());
    });
    assert_eq!(att.links.len(), 1);
    assert_eq!(att.links[0].ip, ip_a);
    let ip_c = att.endpoint.ip;

    assert!(!a.ping(&ip_b.to_string()), "icc=false let a reach b");
    assert!(!b.ping(&ip_a.to_string()), "icc=false let b reach a");
    assert!(c.ping(&ip_a.to_string()), "link c -> a blocked");
    assert!(a.ping(&ip_c.to_string()), "link reply path a -> c blocked");
    assert!(!c.ping(&ip_b.to_string()), "c reached unlinked b");
    assert!(c.ping("web"), "link alias does not resolve in c");
    let hosts = std::fs::read_to_string(c.hosts_file()).unwrap();
    assert!(
        hosts.contains(&format!("{ip_a}\tweb {}", a.name)),
        "{hosts}"
    );

    let env_vars = link_env(
        &c.name,
        &LinkTarget {
            name: a.name.clone(),
            alias: "web".into(),
            ip: ip_a.into(),
            ports: vec![(80, Proto::Tcp)],
            env: vec![],
        },
    );
    assert!(
        env_vars.contains(&format!("WEB_PORT_80_TCP_ADDR={ip_a}")),
        "{env_vars:?}"
    );

    // Published ports do not cross the bridge, so icc=false leaves them working.
    let _srv = NsServer::tcp_echo(&b.path, 9090);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let proxy = rt
        .block_on(PortProxy::start(
            &parse_publish("127.0.0.1::9090").unwrap(),
            ip_b.into(),
        ))
        .unwrap();
    let port = proxy.bindings()[0].host_port;
    assert_eq!(tcp_roundtrip(([127, 0, 0, 1], port).into(), b"icc"), b"icc");
}

#[test]
fn masquerade_and_internal_rules_are_installed_and_removed() {
    let _host = shared_host();
    let leak = LeakCheck::new(&unique());
    let env = Env::new(&leak, "10.213.35.0/24");
    let open = env.network("o", "10.213.36.0/24", |_| {});
    let internal = env.network("i", "10.213.37.0/24", |r| r.internal = true);
    let table = || common::run("nft", &["list", "table", "inet", &leak.prefix]);
    let text = String::from_utf8_lossy(&table().stdout).to_string();
    assert!(
        text.contains(&format!(
            "ip saddr 10.213.36.0/24 oifname != \"{}\" masquerade",
            open.bridge
        )),
        "{text}"
    );
    assert!(
        !text.contains("10.213.37.0/24"),
        "internal network must not be masqueraded:\n{text}"
    );
    assert!(
        text.contains(&format!(
            "iifname \"{0}\" oifname != \"{0}\" drop",
            internal.bridge
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "iifname \"{}\" oifname \"{}\" drop",
            open.bridge, internal.bridge
        )),
        "{text}"
    );
    // Applying again changes nothing.
    env.mgr.restore().unwrap();
    assert_eq!(String::from_utf8_lossy(&table().stdout), text);
    env.mgr.remove(&open.name).unwrap();
    env.mgr.remove(&internal.name).unwrap();
    assert!(
        !table().status.success(),
        "table still present after the last network went"
    );
    assert!(!common::link_names().contains(&open.bridge));
}
