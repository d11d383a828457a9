//! Published-port cost: latency (1-byte round trips) and throughput (bulk send) of a
//! loopback client through a published port to a server in a container namespace, beside a
//! direct loopback connection and a direct connection to the container's address, all in
//! the same run. Needs root. `cargo bench -p kiln-network --bench ports`.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use kiln_network::ports::parse_publish;
use kiln_network::{AttachRequest, CreateNetwork, ManagerConfig, NetworkManager, PortProxy};
use nix::sched::{setns, CloneFlags};

const ROUND_TRIPS: usize = 5_000;
const BULK: usize = 512 << 20;

/// Removes the namespace on drop, also when the benchmark panics.
struct Netns(String);
impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

struct Cleanup<'a>(&'a NetworkManager, String, PathBuf);
impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = self.0.detach_all(&self.1);
        if let Ok(nets) = self.0.list() {
            for n in nets {
                let _ = self.0.remove(&n.name);
            }
        }
        let _ = self.0.firewall().remove();
        let _ = std::fs::remove_dir_all(&self.2);
    }
}

/// Serves each connection: the first byte says echo (`e`) or sink (`s`).
fn serve(listener: TcpListener) {
    for conn in listener.incoming() {
        let Ok(mut s) = conn else { break };
        std::thread::spawn(move || {
            let _ = s.set_nodelay(true);
            let mut mode = [0u8; 1];
            if s.read_exact(&mut mode).is_err() {
                return;
            }
            let mut buf = vec![0u8; 256 << 10];
            match mode[0] {
                b'e' => {
                    while let Ok(n) = s.read(&mut buf[..1]) {
                        if n == 0 || s.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
                _ => {
                    while let Ok(n) = s.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                    }
                    let _ = s.write_all(b"k");
                }
            }
        });
    }
}

fn server_in(netns: Option<PathBuf>, addr: SocketAddr) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    // Detached: it serves until the process ends (the namespace goes with the guard).
    std::thread::spawn(move || {
        if let Some(p) = netns {
            let f = std::fs::File::open(&p).expect("open netns");
            setns(&f, CloneFlags::CLONE_NEWNET).expect("setns");
        }
        let l = TcpListener::bind(addr).expect("bind server");
        tx.send(l.local_addr().expect("addr")).expect("send addr");
        serve(l);
    });
    rx.recv().expect("server address")
}

fn latency(addr: SocketAddr) -> (f64, f64, f64) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    s.write_all(b"e").expect("mode");
    let mut samples = Vec::with_capacity(ROUND_TRIPS);
    let mut b = [0u8; 1];
    for _ in 0..ROUND_TRIPS {
        let t = Instant::now();
        s.write_all(b"x").expect("write");
        s.read_exact(&mut b).expect("read");
        samples.push(t.elapsed());
    }
    samples.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let mean = samples.iter().map(|d| us(*d)).sum::<f64>() / samples.len() as f64;
    (
        mean,
        us(samples[samples.len() / 2]),
        us(samples[samples.len() * 99 / 100]),
    )
}

fn throughput(addr: SocketAddr) -> f64 {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(b"s").expect("mode");
    let chunk = vec![7u8; 256 << 10];
    let t = Instant::now();
    let mut sent = 0;
    while sent < BULK {
        s.write_all(&chunk).expect("write");
        sent += chunk.len();
    }
    s.shutdown(std::net::Shutdown::Write).expect("shutdown");
    let mut ack = [0u8; 1];
    s.read_exact(&mut ack).expect("ack");
    sent as f64 / t.elapsed().as_secs_f64() / (1 << 20) as f64
}

fn report(label: &str, addr: SocketAddr) {
    let (mean, p50, p99) = latency(addr);
    let mib = throughput(addr);
    println!("{label:<28} latency mean {mean:7.1} us  p50 {p50:7.1} us  p99 {p99:7.1} us   throughput {mib:8.0} MiB/s");
}

fn main() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("the ports benchmark needs root (network namespaces, bridges)");
        return;
    }
    let tag = format!("kb{}", std::process::id() % 100_000);
    let root = std::env::temp_dir().join(format!("{tag}-root"));
    let mut config = ManagerConfig::new(&root);
    config.firewall_table = tag.clone();
    config.default_bridge = format!("{tag}d");
    config.ip_forward = false;
    let mgr = NetworkManager::open(config).expect("open manager");
    let ns = Netns(format!("{tag}c"));
    assert!(Command::new("ip")
        .args(["netns", "add", &ns.0])
        .status()
        .expect("ip")
        .success());
    let netns = PathBuf::from(format!("/run/netns/{}", ns.0));
    let id = "b".repeat(64);
    let _cleanup = Cleanup(&mgr, id.clone(), root.clone());
    let mut req = CreateNetwork::new(format!("{tag}n"));
    req.bridge = Some(format!("{tag}n"));
    req.subnet = Some("10.213.60.0/24".parse().expect("subnet"));
    mgr.create(&req).expect("create network");
    let t = Instant::now();
    let att = mgr
        .attach(&AttachRequest {
            container_id: id,
            container_name: "bench".into(),
            netns: netns.clone(),
            network: req.name.clone(),
            ..Default::default()
        })
        .expect("attach");
    println!(
        "attach (veth + address + route): {:.2} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let ip = att.endpoint.ip;
    let t = Instant::now();
    kiln_network::netlink::ensure_bridge(&req.name, "10.213.60.1".parse().expect("ip"), 24)
        .expect("bridge");
    println!(
        "ensure_bridge on an existing bridge: {:.2} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let t = Instant::now();
    mgr.restore().expect("restore");
    println!(
        "restore (bridges + nft rules): {:.2} ms",
        t.elapsed().as_secs_f64() * 1e3
    );

    let direct = server_in(None, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
    let port = server_in(Some(netns), SocketAddr::from((Ipv4Addr::UNSPECIFIED, 8000))).port();
    let inside = SocketAddr::from((ip, port));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let proxy = rt
        .block_on(PortProxy::start(
            &parse_publish("127.0.0.1::8000").expect("spec"),
            ip.into(),
        ))
        .expect("proxy");
    let published = SocketAddr::from((Ipv4Addr::LOCALHOST, proxy.bindings()[0].host_port));
    std::thread::sleep(Duration::from_millis(50));

    println!(
        "{ROUND_TRIPS} round trips of 1 byte, {} MiB bulk",
        BULK >> 20
    );
    report("direct loopback", direct);
    report("container address (bridge)", inside);
    report("published 127.0.0.1 port", published);
    drop(proxy);
}
