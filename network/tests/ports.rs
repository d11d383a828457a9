//! Published ports: a server inside a container namespace reached from the host on
//! 127.0.0.1 through the userland proxy, TCP and UDP, fixed and ephemeral host ports.

mod common;

use std::net::SocketAddr;

use common::{shared_host, tcp_roundtrip, udp_roundtrip, unique, Env, LeakCheck, Netns, NsServer};
use kiln_network::ports::{parse_publish, port_listing, publish_all};
use kiln_network::{PortProxy, Proto};

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[test]
fn published_tcp_and_udp_reach_the_container_on_loopback() {
    let _host = shared_host();
    let leak = LeakCheck::new(&unique());
    let env = Env::new(&leak, "10.213.20.0/24");
    let net = env.network("n", "10.213.21.0/24", |_| {});
    let c = Netns::new(&format!("{}c", leak.prefix));
    let ip = env.attach(&c, &net.name, |_| {}).endpoint.ip;
    let _tcp = NsServer::tcp_echo(&c.path, 8080);
    let _udp = NsServer::udp_echo(&c.path, 5353);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut specs = parse_publish("127.0.0.1::8080").unwrap();
    specs.extend(parse_publish("127.0.0.1::5353/udp").unwrap());
    let proxy = rt.block_on(PortProxy::start(&specs, ip.into())).unwrap();
    let b = proxy.bindings().to_vec();
    assert_eq!(b.len(), 2);
    assert!(b
        .iter()
        .all(|b| b.host_port != 0 && b.host_ip.to_string() == "127.0.0.1"));
    let tcp_port = b[0].host_port;
    let udp_port = b[1].host_port;
    assert_eq!((b[0].proto, b[1].proto), (Proto::Tcp, Proto::Udp));

    let msg = b"hello through the proxy".repeat(1000);
    assert_eq!(tcp_roundtrip(loopback(tcp_port), &msg), msg);
    assert_eq!(
        udp_roundtrip(loopback(udp_port), b"datagram").as_deref(),
        Some(&b"datagram"[..])
    );
    // Several clients at once over UDP keep their replies apart.
    for i in 0..5u8 {
        assert_eq!(
            udp_roundtrip(loopback(udp_port), &[i; 10]),
            Some(vec![i; 10])
        );
    }

    let listing = port_listing(&b, None);
    assert_eq!(
        listing,
        vec![
            format!("5353/udp -> 127.0.0.1:{udp_port}"),
            format!("8080/tcp -> 127.0.0.1:{tcp_port}")
        ]
    );

    drop(proxy);
    rt.block_on(async { tokio::time::sleep(std::time::Duration::from_millis(50)).await });
    assert!(
        std::net::TcpStream::connect(loopback(tcp_port)).is_err(),
        "listener survives the proxy"
    );
}

#[test]
fn fixed_host_port_and_conflicts() {
    let _host = shared_host();
    let leak = LeakCheck::new(&unique());
    let env = Env::new(&leak, "10.213.22.0/24");
    let net = env.network("n", "10.213.23.0/24", |_| {});
    let c = Netns::new(&format!("{}c", leak.prefix));
    let ip = env.attach(&c, &net.name, |_| {}).endpoint.ip;
    let _tcp = NsServer::tcp_echo(&c.path, 80);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Find a free port, then ask for it explicitly.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let specs = parse_publish(&format!("127.0.0.1:{free}:80")).unwrap();
    let proxy = rt.block_on(PortProxy::start(&specs, ip.into())).unwrap();
    assert_eq!(proxy.bindings()[0].host_port, free);
    let roundtrip = std::thread::spawn(move || tcp_roundtrip(loopback(free), b"ping"));
    // The proxy runs on the current-thread runtime only while it is driven.
    let echoed = rt.block_on(async {
        loop {
            if roundtrip.is_finished() {
                break roundtrip.join();
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    });
    assert_eq!(echoed.unwrap(), b"ping");
    // The same port a second time is refused before anything listens.
    let err = rt
        .block_on(PortProxy::start(&specs, ip.into()))
        .unwrap_err();
    assert!(err.to_string().contains("already in use"), "{err}");
}

#[test]
fn publish_all_maps_every_exposed_port() {
    let _host = shared_host();
    let leak = LeakCheck::new(&unique());
    let env = Env::new(&leak, "10.213.24.0/24");
    let net = env.network("n", "10.213.25.0/24", |_| {});
    let c = Netns::new(&format!("{}c", leak.prefix));
    let ip = env.attach(&c, &net.name, |_| {}).endpoint.ip;
    let _a = NsServer::tcp_echo(&c.path, 7001);
    let _b = NsServer::tcp_echo(&c.path, 7002);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut specs = publish_all(&[(7001, Proto::Tcp), (7002, Proto::Tcp)]);
    // Tests listen on loopback only.
    for s in &mut specs {
        s.host_ip = Some("127.0.0.1".parse().unwrap());
    }
    let proxy = rt.block_on(PortProxy::start(&specs, ip.into())).unwrap();
    for b in proxy.bindings() {
        assert_eq!(tcp_roundtrip(loopback(b.host_port), b"x"), b"x", "{b}");
    }
    assert_eq!(
        port_listing(proxy.bindings(), Some((7002, Proto::Tcp))).len(),
        1
    );
}
