//! Containers (network namespaces) on kiln bridges: addressing, MAC, routes, reaching each
//! other by address and by name through the managed hosts files, and clean detach.

mod common;

use common::{shared_host, unique, Env, LeakCheck, Netns};
use kiln_network::parse_mac;

#[test]
fn two_containers_reach_each_other_by_address() {
    let _host = shared_host();
    let leak = LeakCheck::new(&unique());
    let env = Env::new(&leak, "10.213.1.0/24");
    let net = env.network("n", "10.213.2.0/24", |_| {});
    let a = Netns::new(&format!("{}a", leak.prefix));
    let b = Netns::new(&format!("{}b", leak.prefix));
    let mac = parse_mac("02:aa:bb:cc:dd:01").unwrap();
    let ea = env.attach(&a, &net.name, |r| r.mac = Some(mac)).endpoint;
    let eb = env
        .attach(&b, &net.name, |r| {
            r.ip = Some("10.213.2.77".parse().unwrap())
        })
        .endpoint;
    assert_eq!(ea.ip.to_string(), "10.213.2.2");
    assert_eq!(eb.ip.to_string(), "10.213.2.77");
    assert_eq!(ea.ifname, "eth0");

    let link = a.ip(&["-o", "link", "show", "eth0"]);
    assert!(link.contains("02:aa:bb:cc:dd:01"), "{link}");
    assert!(a.ip(&["-o", "link", "show", "lo"]).contains("UP"));
    assert!(a
        .ip(&["-4", "-o", "addr", "show", "eth0"])
        .contains("10.213.2.2/24"));
    assert!(a.ip(&["route"]).contains("default via 10.213.2.1 dev eth0"));

    assert!(a.ping("10.213.2.77"), "a cannot reach b");
    assert!(b.ping("10.213.2.2"), "b cannot reach a");
    assert!(a.ping("10.213.2.1"), "a cannot reach its gateway");

    env.mgr.detach(&eb.container_id, &net.name).unwrap();
    assert!(!a.ping("10.213.2.77"), "b still answers after detach");
    assert!(
        b.ip(&["-o", "link"]).lines().all(|l| !l.contains("eth0")),
        "eth0 left in b"
    );
}

#[test]
fn names_resolve_through_managed_hosts_files() {
    let _host = shared_host();
    let leak = LeakCheck::new(&unique());
    let env = Env::new(&leak, "10.213.3.0/24");
    let net = env.network("n", "10.213.4.0/24", |_| {});
    let a = Netns::new(&format!("{}a", leak.prefix));
    let b = Netns::new(&format!("{}b", leak.prefix));
    let c = Netns::new(&format!("{}c", leak.prefix));
    env.attach(&a, &net.name, |r| {
        r.hosts_file = Some(a.hosts_file());
        r.extra_hosts = vec![("extra.example".into(), "10.99.0.9".parse().unwrap())];
    });
    let eb = env
        .attach(&b, &net.name, |r| {
            r.hosts_file = Some(b.hosts_file());
            r.aliases = vec!["db".into()];
        })
        .endpoint;
    // b's name and alias resolve in a, and a's name in b, only via the hosts files.
    assert!(a.ping(&b.name), "a cannot reach b by name");
    assert!(a.ping("db"), "a cannot reach b by alias");
    assert!(b.ping(&a.name), "b cannot reach a by name");
    let hosts_a = std::fs::read_to_string(a.hosts_file()).unwrap();
    assert!(hosts_a.contains("10.99.0.9\textra.example"), "{hosts_a}");
    assert!(hosts_a.starts_with("127.0.0.1\tlocalhost"), "{hosts_a}");

    // A later joiner is added to the earlier ones' files.
    env.attach(&c, &net.name, |r| r.hosts_file = Some(c.hosts_file()));
    assert!(a.ping(&c.name), "a does not see the later container c");

    env.mgr.detach(&eb.container_id, &net.name).unwrap();
    let hosts_a = std::fs::read_to_string(a.hosts_file()).unwrap();
    assert!(
        !hosts_a.contains(&b.name),
        "b still in a's hosts after leaving:\n{hosts_a}"
    );
    assert!(!a.ping("db"));
}

#[test]
fn connect_to_a_second_network_adds_eth1() {
    let _host = shared_host();
    let leak = LeakCheck::new(&unique());
    let env = Env::new(&leak, "10.213.5.0/24");
    let n1 = env.network("p", "10.213.6.0/24", |_| {});
    let n2 = env.network("q", "10.213.7.0/24", |_| {});
    let a = Netns::new(&format!("{}a", leak.prefix));
    let b = Netns::new(&format!("{}b", leak.prefix));
    env.attach(&a, &n1.name, |_| {});
    let second = env.attach(&a, &n2.name, |_| {}).endpoint;
    assert_eq!(second.ifname, "eth1");
    env.attach(&b, &n2.name, |_| {});
    assert!(b.ping(&second.ip.to_string()));
    // Only the first network gives the default route.
    let routes = a.ip(&["route"]);
    assert_eq!(routes.matches("default").count(), 1, "{routes}");
    assert_eq!(env.mgr.endpoints(&second.container_id).unwrap().len(), 2);
    env.mgr.detach_all(&second.container_id).unwrap();
    assert!(env.mgr.endpoints(&second.container_id).unwrap().is_empty());
}

#[test]
fn failed_attach_leaves_no_trace() {
    let _host = shared_host();
    let leak = LeakCheck::new(&unique());
    let env = Env::new(&leak, "10.213.8.0/24");
    let net = env.network("n", "10.213.9.0/24", |_| {});
    let before = env.mgr.inspect(&net.name).unwrap();
    let req = kiln_network::AttachRequest {
        container_id: "f".repeat(64),
        container_name: "ghost".into(),
        netns: format!("/run/netns/{}missing", leak.prefix).into(),
        network: net.name.clone(),
        ..Default::default()
    };
    let err = env.mgr.attach(&req).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
    // A path that exists but is no namespace fails after the veth pair was made: the
    // pair must be deleted again.
    let not_ns = env.dir.path().join("not-a-netns");
    std::fs::write(&not_ns, "").unwrap();
    let err = env
        .mgr
        .attach(&kiln_network::AttachRequest {
            netns: not_ns,
            ..req.clone()
        })
        .unwrap_err();
    assert!(
        matches!(err, kiln_network::ManagerError::Netlink(_)),
        "{err}"
    );
    assert_eq!(
        env.mgr.inspect(&net.name).unwrap(),
        before,
        "state changed by a failed attach"
    );
    use sha2::Digest;
    let tag = hex::encode(sha2::Sha256::digest(format!(
        "{}\0{}",
        req.container_id, net.id
    )));
    let veth = format!("kv{}", &tag[..11]);
    assert!(
        !common::link_names().contains(&veth),
        "veth {veth} left after a failed attach"
    );
    // The address a failed attach would have taken is still free.
    let a = Netns::new(&format!("{}a", leak.prefix));
    assert_eq!(
        env.attach(&a, &net.name, |_| {}).endpoint.ip.to_string(),
        "10.213.9.2"
    );
}

#[test]
fn attach_works_from_inside_a_tokio_runtime() {
    // The monitor process calls in from async code; the netlink worker threads must not
    // trip over the caller's runtime.
    let _host = shared_host();
    let leak = LeakCheck::new(&unique());
    let env = Env::new(&leak, "10.213.10.0/24");
    let net = env.network("n", "10.213.11.0/24", |_| {});
    let a = Netns::new(&format!("{}a", leak.prefix));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ep = rt.block_on(async { env.attach(&a, &net.name, |_| {}).endpoint });
    assert!(
        a.ping(&net.gateway.to_string()),
        "{} cannot reach its gateway",
        ep.ip
    );
    rt.block_on(async { env.mgr.detach_all(&ep.container_id) })
        .unwrap();
    assert!(env.mgr.endpoints(&ep.container_id).unwrap().is_empty());
}
