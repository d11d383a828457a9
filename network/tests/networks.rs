//! Network lifecycle and IPAM: create/list/inspect/remove, the default network made on
//! demand, subnet collision checks, and addresses that survive a restart of kiln.

mod common;

use common::{config, shared_host, unique, Env, LeakCheck, Netns};
use kiln_network::{CreateNetwork, ManagerError, NetworkManager};

#[test]
fn ipam_survives_restart_and_reuses_released_addresses() {
    let _host = shared_host();
    let leak = LeakCheck::new(&unique());
    let env = Env::new(&leak, "10.213.40.0/24");
    // /29: gateway .1 and five container addresses .2-.6.
    let net = env.network("n", "10.213.41.0/29", |_| {});
    let a = Netns::new(&format!("{}a", leak.prefix));
    let b = Netns::new(&format!("{}b", leak.prefix));
    let c = Netns::new(&format!("{}c", leak.prefix));
    let ea = env.attach(&a, &net.name, |_| {}).endpoint;
    env.attach(&b, &net.name, |r| {
        r.ip = Some("10.213.41.6".parse().unwrap())
    });
    assert_eq!(ea.ip.to_string(), "10.213.41.2");

    // A second manager on the same root (another kiln process, or after a restart) sees
    // the allocations and continues after the last one handed out.
    let again =
        NetworkManager::open(config(env.dir.path(), &leak.prefix, "10.213.40.0/24")).unwrap();
    let listed = again.list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].endpoints.len(), 2);
    let dup = kiln_network::AttachRequest {
        container_id: "d".repeat(64),
        container_name: "dup".into(),
        netns: c.path.clone(),
        network: net.name.clone(),
        ip: Some("10.213.41.2".parse().unwrap()),
        ..Default::default()
    };
    let err = again.attach(&dup).unwrap_err();
    assert!(
        matches!(
            err,
            ManagerError::Ipam(kiln_network::ipam::IpamError::InUse { .. })
        ),
        "{err}"
    );
    // Round-robin after .6 wraps to the lowest free address.
    let ec = env.attach(&c, &net.name, |_| {}).endpoint;
    assert_eq!(ec.ip.to_string(), "10.213.41.3");

    // Released addresses come back once the range is used up.
    env.mgr.detach(&ea.container_id, &net.name).unwrap();
    let d = Netns::new(&format!("{}d", leak.prefix));
    let e = Netns::new(&format!("{}e", leak.prefix));
    let f = Netns::new(&format!("{}f", leak.prefix));
    let g = Netns::new(&format!("{}g", leak.prefix));
    assert_eq!(
        env.attach(&d, &net.name, |_| {}).endpoint.ip.to_string(),
        "10.213.41.4"
    );
    assert_eq!(
        env.attach(&e, &net.name, |_| {}).endpoint.ip.to_string(),
        "10.213.41.5"
    );
    assert_eq!(
        env.attach(&f, &net.name, |_| {}).endpoint.ip.to_string(),
        "10.213.41.2"
    );
    let full = kiln_network::AttachRequest {
        container_id: "9".repeat(64),
        netns: g.path.clone(),
        network: net.name.clone(),
        ..Default::default()
    };
    let err = env.mgr.attach(&full).unwrap_err();
    assert!(err.to_string().contains("no free address"), "{err}");
}

#[test]
fn default_network_is_created_on_demand() {
    let _host = shared_host();
    let leak = LeakCheck::new(&unique());
    let env = Env::new(&leak, "10.213.42.0/24");
    assert!(env.mgr.list().unwrap().is_empty());
    let a = Netns::new(&format!("{}a", leak.prefix));
    let att = env.attach(&a, "", |_| {});
    assert_eq!(att.network, "bridge");
    let net = env.mgr.inspect("bridge").unwrap();
    assert_eq!(net.bridge, format!("{}d", leak.prefix));
    assert_eq!(net.subnet.to_string(), "10.213.42.0/24");
    assert_eq!(net.gateway.to_string(), "10.213.42.1");
    assert!(a.ping("10.213.42.1"));
    // Inspect by id prefix; remove refuses while in use.
    assert_eq!(env.mgr.inspect(&net.id[..12]).unwrap().name, "bridge");
    let err = env.mgr.remove("bridge").unwrap_err();
    assert!(matches!(err, ManagerError::InUse { .. }), "{err}");
    // On the default network peers get no name entries (only links do, as with Docker).
    let b = Netns::new(&format!("{}b", leak.prefix));
    env.attach(&b, "bridge", |r| r.hosts_file = Some(b.hosts_file()));
    let hosts = std::fs::read_to_string(b.hosts_file()).unwrap();
    assert!(!hosts.contains(&a.name), "{hosts}");
    assert!(hosts.contains(&b.name), "own name missing:\n{hosts}");
}

#[test]
fn subnets_may_not_collide() {
    let _host = shared_host();
    let leak = LeakCheck::new(&unique());
    let env = Env::new(&leak, "10.213.43.0/24");
    env.network("n", "10.213.44.0/24", |_| {});
    let mut req = CreateNetwork::new(format!("{}m", leak.prefix));
    req.bridge = Some(format!("{}m", leak.prefix));
    req.subnet = Some("10.213.44.128/25".parse().unwrap());
    let err = env.mgr.create(&req).unwrap_err();
    assert!(matches!(err, ManagerError::Overlap { .. }), "{err}");
    // The host's own eth0 network.
    let host = kiln_network::subnet::host_routes().unwrap();
    // Another test's bridge may be listed first; take a route that is not a test's.
    if let Some(r) = host.iter().find(|r| !r.iface.starts_with("kt")) {
        req.subnet = Some(r.dest);
        let err = env.mgr.create(&req).unwrap_err();
        assert!(err.to_string().contains("host route"), "{err}");
    }
    // Same name twice, bad names, gateway outside the subnet.
    let err = env
        .mgr
        .create(&CreateNetwork {
            subnet: Some("10.213.45.0/24".parse().unwrap()),
            ..CreateNetwork::new(format!("{}n", leak.prefix))
        })
        .unwrap_err();
    assert!(matches!(err, ManagerError::Exists(_)), "{err}");
    assert!(matches!(
        env.mgr.create(&CreateNetwork::new("-bad")).unwrap_err(),
        ManagerError::BadName(_)
    ));
    req.subnet = Some("10.213.46.0/24".parse().unwrap());
    req.gateway = Some("10.213.47.1".parse().unwrap());
    assert!(matches!(
        env.mgr.create(&req).unwrap_err(),
        ManagerError::Ipam(_)
    ));
    assert!(
        !common::link_names().contains(&format!("{}m", leak.prefix)),
        "bridge left by failed create"
    );
}

#[test]
fn automatic_subnet_avoids_host_routes_and_other_networks() {
    let _host = shared_host();
    let leak = LeakCheck::new(&unique());
    let env = Env::new(&leak, "10.213.48.0/24");
    let mut req = CreateNetwork::new(format!("{}a", leak.prefix));
    req.bridge = Some(format!("{}a", leak.prefix));
    let first = env.mgr.create(&req).unwrap();
    let routes = kiln_network::subnet::host_routes().unwrap();
    assert!(routes
        .iter()
        .filter(|r| r.iface != first.bridge)
        .all(|r| !kiln_network::subnet::overlaps(&r.dest, &first.subnet)));
    let mut req = CreateNetwork::new(format!("{}b", leak.prefix));
    req.bridge = Some(format!("{}b", leak.prefix));
    let second = env.mgr.create(&req).unwrap();
    assert!(!kiln_network::subnet::overlaps(
        &first.subnet,
        &second.subnet
    ));
}

#[test]
fn concurrent_managers_never_hand_out_one_address_twice() {
    let _host = shared_host();
    let leak = LeakCheck::new(&unique());
    let env = Env::new(&leak, "10.213.53.0/24");
    let net = env.network("n", "10.213.54.0/24", |_| {});
    let spaces: Vec<Netns> = (0..6)
        .map(|i| Netns::new(&format!("{}{i}", leak.prefix)))
        .collect();
    // Two managers on one root stand in for two kiln processes: each has its own lock
    // file description, so flock serialises them exactly as it would across processes.
    let ips: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = spaces
            .chunks(3)
            .map(|chunk| {
                let root = env.dir.path().to_path_buf();
                let (prefix, network) = (leak.prefix.clone(), net.name.clone());
                s.spawn(move || {
                    let mgr =
                        NetworkManager::open(config(&root, &prefix, "10.213.53.0/24")).unwrap();
                    chunk
                        .iter()
                        .map(|ns| {
                            let req = kiln_network::AttachRequest {
                                container_id: common::hex_of(&ns.name),
                                container_name: ns.name.clone(),
                                netns: ns.path.clone(),
                                network: network.clone(),
                                ..Default::default()
                            };
                            mgr.attach(&req).unwrap().endpoint.ip.to_string()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let distinct: std::collections::BTreeSet<&String> = ips.iter().collect();
    assert_eq!(distinct.len(), 6, "{ips:?}");
    assert_eq!(env.mgr.inspect(&net.name).unwrap().endpoints.len(), 6);
}

#[test]
fn restore_releases_endpoints_of_vanished_containers() {
    let _host = shared_host();
    let leak = LeakCheck::new(&unique());
    let env = Env::new(&leak, "10.213.55.0/24");
    let net = env.network("n", "10.213.56.0/24", |_| {});
    let a = Netns::new(&format!("{}a", leak.prefix));
    let b = Netns::new(&format!("{}b", leak.prefix));
    let ea = env
        .attach(&a, &net.name, |r| r.hosts_file = Some(a.hosts_file()))
        .endpoint;
    let eb = env.attach(&b, &net.name, |_| {}).endpoint;
    // b dies without a detach: its namespace goes, and the kernel removes the veth.
    drop(b);
    let mut waited = 0;
    while kiln_network::netlink::link_exists(&eb.host_veth).unwrap() {
        assert!(waited < 500, "veth {} outlived its namespace", eb.host_veth);
        std::thread::sleep(std::time::Duration::from_millis(10));
        waited += 1;
    }
    let released = env.mgr.restore().unwrap();
    assert_eq!(released, vec![(net.name.clone(), eb.container_id.clone())]);
    let after = env.mgr.inspect(&net.name).unwrap();
    assert_eq!(
        after.endpoints.keys().collect::<Vec<_>>(),
        vec![&ea.container_id]
    );
    let hosts = std::fs::read_to_string(a.hosts_file()).unwrap();
    assert!(!hosts.contains(&eb.ip.to_string()), "{hosts}");
}
