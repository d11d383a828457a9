//! Helpers for the networking end-to-end tests: a runtime test store (busybox loaded; its
//! guard removes containers, then kiln_support's the store's networks, bridge and nftables
//! tables), and the host-side facts the leak checks compare (links, mounts, nftables tables).
#![allow(dead_code)]

#[path = "../runtime_support/mod.rs"]
mod runtime_support;

pub use runtime_support::Rt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The store's networking names (from `<root>/network/settings.json`).
pub struct Names {
    pub bridge: String,
    pub table: String,
}

pub struct Net {
    pub rt: Rt,
}

impl Net {
    pub fn new() -> Net {
        Net { rt: Rt::new() }
    }

    pub fn ok(&self, args: &[&str]) -> String {
        self.rt.ok(args)
    }

    pub fn fails(&self, args: &[&str]) -> (i32, String) {
        self.rt.fails(args)
    }

    /// `kiln run -d ARGS`; returns the id.
    pub fn run_d(&self, args: &[&str]) -> String {
        let mut a = vec!["run", "-d"];
        a.extend_from_slice(args);
        self.ok(&a).trim().to_string()
    }

    /// `kiln exec ID sh -c SCRIPT` (output, exit code).
    pub fn exec(&self, id: &str, script: &str) -> (String, i32) {
        let out = self.rt.run(&["exec", id, "sh", "-c", script]);
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            out.status.code().unwrap_or(-1),
        )
    }

    /// A `{{...}}` field of `container inspect`.
    pub fn inspect(&self, id: &str, tpl: &str) -> String {
        self.ok(&["container", "inspect", "--format", tpl, id])
            .trim()
            .to_string()
    }

    pub fn names(&self) -> Names {
        let text = std::fs::read_to_string(self.rt.root().join("network/settings.json"))
            .unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        Names {
            bridge: v["bridge"].as_str().unwrap_or_default().to_string(),
            table: v["firewall_table"].as_str().unwrap_or_default().to_string(),
        }
    }

    pub fn netns_dir(&self) -> PathBuf {
        self.rt.root().join("network/netns")
    }

    /// Host-side veth names of the store's endpoints right now (from its state file).
    pub fn host_veths(&self) -> Vec<String> {
        let text =
            std::fs::read_to_string(self.rt.root().join("network/state.json")).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let mut out = Vec::new();
        if let Some(nets) = v["networks"].as_object() {
            for n in nets.values() {
                if let Some(eps) = n["endpoints"].as_object() {
                    for e in eps.values() {
                        out.push(e["host_veth"].as_str().unwrap_or_default().to_string());
                    }
                }
            }
        }
        out
    }

    pub fn eventually(&self, what: &str, cond: impl FnMut() -> bool) {
        self.rt.eventually(what, cond)
    }
}

pub fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

pub fn nft_table_exists(family: &str, table: &str) -> bool {
    std::process::Command::new("nft")
        .args(["list", "table", family, table])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A free TCP port on 127.0.0.1 (the kernel's pick; released before returning).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// An HTTP GET of `path` from `addr` (retried until the server answers: a correctness
/// bound of 30 s, not a speed goal); the whole response.
pub fn http_get(addr: SocketAddr, path: &str) -> String {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let attempt = || -> std::io::Result<String> {
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
            s.set_read_timeout(Some(Duration::from_secs(10)))?;
            write!(s, "GET {path} HTTP/1.0\r\nHost: test\r\n\r\n")?;
            let mut out = String::new();
            s.read_to_string(&mut out)?;
            if out.is_empty() {
                return Err(std::io::Error::other("empty answer"));
            }
            Ok(out)
        };
        match attempt() {
            Ok(r) => return r,
            Err(e) => {
                assert!(Instant::now() < until, "GET {path} from {addr}: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Sends `msg` to `addr` over UDP until an answer arrives (30 s bound); the answer.
pub fn udp_roundtrip(addr: SocketAddr, msg: &[u8]) -> Vec<u8> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let until = Instant::now() + Duration::from_secs(30);
    let mut buf = [0u8; 2048];
    loop {
        sock.send_to(msg, addr).unwrap();
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            return buf[..n].to_vec();
        }
        assert!(Instant::now() < until, "no UDP answer from {addr}");
    }
}

/// A static UDP echo server (C, built with the host's cc) to bind into busybox, which has
/// no UDP server of its own. Returns the binary's path.
pub fn udp_echo_binary(dir: &Path) -> PathBuf {
    let src = dir.join("udpecho.c");
    let bin = dir.join("udpecho");
    std::fs::write(
        &src,
        r#"#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
int main(int argc, char **argv) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a; memset(&a, 0, sizeof a);
    a.sin_family = AF_INET; a.sin_port = htons(argc > 1 ? atoi(argv[1]) : 5353);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0) return 1;
    char buf[2048], out[2100];
    for (;;) {
        struct sockaddr_in from; socklen_t fl = sizeof from;
        ssize_t n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
        if (n < 0) continue;
        memcpy(out, "echo:", 5); memcpy(out + 5, buf, n);
        sendto(s, out, n + 5, 0, (struct sockaddr *)&from, fl);
    }
}
"#,
    )
    .unwrap();
    let st = std::process::Command::new("cc")
        .args(["-static", "-O2", "-o"])
        .arg(&bin)
        .arg(&src)
        .status()
        .expect("running cc (gcc and libc6-dev are in .ci/run's PACKAGES)");
    assert!(st.success(), "building the UDP echo helper failed");
    bin
}
