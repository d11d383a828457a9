//! Published ports end to end: a detached busybox httpd behind `-p 127.0.0.1:PORT:80`
//! answers from the host; `-P` maps every EXPOSEd port and `kiln port` reports them; UDP
//! publishing; ports close when the container stops. Traffic goes only to loopback.

mod network_support;

use network_support::{free_port, http_get, udp_echo_binary, udp_roundtrip, Net};
use std::net::SocketAddr;

fn www(net: &Net, text: &str) -> String {
    let dir = net.rt.k.path("www");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), text).unwrap();
    format!("{}:/www:ro", dir.display())
}

#[test]
fn published_tcp_port_answers_on_loopback() {
    let net = Net::new();
    let vol = www(&net, "hello from kiln\n");
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    let id = net.run_d(&[
        "-p", &publish, "-v", &vol, "busybox", "httpd", "-f", "-p", "80", "-h", "/www",
    ]);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let answer = http_get(addr, "/index.html");
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.contains("hello from kiln"), "{answer}");
    assert_eq!(
        net.ok(&["port", &id]).trim(),
        format!("80/tcp -> 127.0.0.1:{port}")
    );
    assert_eq!(
        net.ok(&["port", &id, "80"]).trim(),
        format!("127.0.0.1:{port}")
    );
    assert!(net.fails(&["port", &id, "81"]).1.contains("no public port"));
    let ps = net.ok(&["ps"]);
    assert!(ps.contains(&format!("127.0.0.1:{port}->80/tcp")), "{ps}");
    // inspect: the container's address on the default network and the binding.
    let ip = net.inspect(&id, "{{.NetworkSettings.IPAddress}}");
    assert!(ip.parse::<std::net::Ipv4Addr>().is_ok(), "IPAddress {ip:?}");
    assert_eq!(net.inspect(&id, "{{.HostConfig.NetworkMode}}"), "bridge");
    let ports = net.ok(&["container", "inspect", &id]);
    assert!(
        ports.contains(&format!("\"HostPort\": \"{port}\"")),
        "{ports}"
    );
    // The container itself sees eth0 with that address.
    let (addrs, code) = net.exec(&id, "ip -o -4 addr show eth0");
    assert_eq!(code, 0);
    assert!(addrs.contains(&format!("inet {ip}/")), "{addrs}");
    // Stopping closes the port and releases the address.
    net.ok(&["stop", "-t", "1", &id]);
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "port still open"
    );
    assert!(net.ok(&["port", &id]).trim().is_empty());
    assert!(net.host_veths().is_empty(), "{:?}", net.host_veths());
    // And starting again publishes again.
    net.ok(&["start", &id]);
    assert!(http_get(addr, "/index.html").contains("hello from kiln"));
}

#[test]
fn publish_all_maps_every_exposed_port() {
    let net = Net::new();
    let ctx = net.rt.k.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nEXPOSE 80 9000/udp\n").unwrap();
    net.ok(&["build", "-q", "-t", "exposer", ctx.to_str().unwrap()]);
    let vol = www(&net, "published all\n");
    let id = net.run_d(&[
        "-P", "--expose", "7000", "-v", &vol, "exposer", "httpd", "-f", "-p", "80", "-h", "/www",
    ]);
    let listing = net.ok(&["port", &id]);
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 3, "{listing}");
    for (port, line) in ["80/tcp", "7000/tcp", "9000/udp"].iter().zip(&lines) {
        assert!(
            line.starts_with(&format!("{port} -> 0.0.0.0:")),
            "{listing}"
        );
    }
    let host_port: u16 = net
        .ok(&["port", &id, "80/tcp"])
        .trim()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(host_port, 80);
    let addr: SocketAddr = format!("127.0.0.1:{host_port}").parse().unwrap();
    assert!(http_get(addr, "/index.html").contains("published all"));
}

#[test]
fn udp_port_is_published() {
    let net = Net::new();
    let dir = net.rt.k.path("udp");
    std::fs::create_dir_all(&dir).unwrap();
    udp_echo_binary(&dir);
    let mount = format!("{}:/opt/udp:ro", dir.display());
    let id = net.run_d(&[
        "-p",
        "127.0.0.1::5353/udp",
        "-v",
        &mount,
        "busybox",
        "/opt/udp/udpecho",
        "5353",
    ]);
    let host = net.ok(&["port", &id, "5353/udp"]);
    let addr: SocketAddr = host.trim().parse().unwrap();
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    assert_eq!(udp_roundtrip(addr, b"ping"), b"echo:ping");
    // A second flow from another client socket is forwarded too.
    assert_eq!(udp_roundtrip(addr, b"again"), b"echo:again");
}

#[test]
fn a_taken_host_port_fails_the_start_cleanly() {
    let net = Net::new();
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let publish = format!("127.0.0.1:{port}:80");
    let out = net
        .rt
        .run(&["run", "-d", "-p", &publish, "busybox", "sleep", "60"]);
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    // Nothing of the failed start stays: no endpoint, no pinned namespace.
    assert!(net.host_veths().is_empty(), "{:?}", net.host_veths());
    let left: Vec<_> = std::fs::read_dir(net.netns_dir())
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}
