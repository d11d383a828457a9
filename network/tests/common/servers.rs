//! Echo servers on threads inside a network namespace, and clients for them.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use nix::sched::{setns, CloneFlags};

/// A TCP or UDP echo server on a thread that entered a network namespace; stops on Drop.
pub struct NsServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn enter(netns: &Path) {
    let f = std::fs::File::open(netns).expect("open netns");
    setns(&f, CloneFlags::CLONE_NEWNET).expect("setns");
}

impl NsServer {
    pub fn tcp_echo(netns: &Path, port: u16) -> NsServer {
        Self::spawn(netns, move |stop| {
            let l = TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).expect("bind tcp in netns");
            l.set_nonblocking(true).expect("nonblocking");
            while !stop.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((mut s, _)) => {
                        let _ = s.set_nonblocking(false);
                        std::thread::spawn(move || {
                            let mut buf = [0u8; 65536];
                            while let Ok(n) = s.read(&mut buf) {
                                if n == 0 || s.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        })
    }

    pub fn udp_echo(netns: &Path, port: u16) -> NsServer {
        Self::spawn(netns, move |stop| {
            let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port)).expect("bind udp in netns");
            s.set_read_timeout(Some(Duration::from_millis(20)))
                .expect("timeout");
            let mut buf = [0u8; 65536];
            while !stop.load(Ordering::SeqCst) {
                if let Ok((n, from)) = s.recv_from(&mut buf) {
                    let _ = s.send_to(&buf[..n], from);
                }
            }
        })
    }

    fn spawn(netns: &Path, body: impl FnOnce(Arc<AtomicBool>) + Send + 'static) -> NsServer {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let netns = netns.to_path_buf();
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            enter(&netns);
            let _ = tx.send(());
            body(s);
        });
        rx.recv().expect("server thread started");
        // Give the socket a moment to be bound before clients connect.
        std::thread::sleep(Duration::from_millis(50));
        NsServer {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for NsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sends `msg` over TCP to `addr` and reads the same number of bytes back.
pub fn tcp_roundtrip(addr: SocketAddr, msg: &[u8]) -> Vec<u8> {
    let mut s =
        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    s.write_all(msg).expect("write");
    let mut back = vec![0u8; msg.len()];
    s.read_exact(&mut back).expect("read echo");
    back
}

/// Sends `msg` over UDP to `addr` and waits for one reply.
pub fn udp_roundtrip(addr: SocketAddr, msg: &[u8]) -> Option<Vec<u8>> {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    s.send_to(msg, addr).expect("send");
    let mut buf = [0u8; 65536];
    s.recv_from(&mut buf).ok().map(|(n, _)| buf[..n].to_vec())
}
