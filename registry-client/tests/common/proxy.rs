//! A TCP proxy in front of the registry that misbehaves on purpose: it can answer the first
//! connections with 503, and cut a response stream after some bytes (a dropped connection).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

pub struct Proxy {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    /// How many cuts are still to be made; tests read how many happened.
    cuts_left: Arc<AtomicUsize>,
    failures_left: Arc<AtomicUsize>,
    upload_cuts_left: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Forward to `upstream`; the first `fail_first` connections get a 503, and `cuts` responses
    /// are cut once a connection has carried `cut_after` bytes towards the client.
    pub fn start(upstream: SocketAddr, cut_after: usize, cuts: usize, fail_first: usize) -> Proxy {
        Self::start_with(upstream, cut_after, cuts, fail_first, 0)
    }

    /// Like `start`, and also cut `upload_cuts` connections once they have carried
    /// `cut_after` bytes towards the registry (a request body broken off mid-upload).
    pub fn start_with(
        upstream: SocketAddr,
        cut_after: usize,
        cuts: usize,
        fail_first: usize,
        upload_cuts: usize,
    ) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy bind");
        let addr = listener.local_addr().expect("proxy addr");
        let stop = Arc::new(AtomicBool::new(false));
        let cuts_left = Arc::new(AtomicUsize::new(cuts));
        let failures_left = Arc::new(AtomicUsize::new(fail_first));
        let upload_cuts_left = Arc::new(AtomicUsize::new(upload_cuts));
        let (s, c, f, u) = (
            stop.clone(),
            cuts_left.clone(),
            failures_left.clone(),
            upload_cuts_left.clone(),
        );
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = conn else { continue };
                let (c, f, u) = (c.clone(), f.clone(), u.clone());
                std::thread::spawn(move || serve(client, upstream, cut_after, c, f, u));
            }
        });
        Proxy {
            addr,
            stop,
            cuts_left,
            failures_left,
            upload_cuts_left,
            thread: Some(thread),
        }
    }

    pub fn cuts_left(&self) -> usize {
        self.cuts_left.load(Ordering::SeqCst)
    }

    pub fn upload_cuts_left(&self) -> usize {
        self.upload_cuts_left.load(Ordering::SeqCst)
    }

    pub fn failures_left(&self) -> usize {
        self.failures_left.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wake the accept loop
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn take_one(counter: &AtomicUsize) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

/// Forward `from` to `to`; with an upload cut pending, break off once `cut_after` bytes passed.
fn forward_up(
    mut from: TcpStream,
    mut to: TcpStream,
    cut_after: usize,
    upload_cuts: Arc<AtomicUsize>,
) {
    let mut sent = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if sent + n > cut_after && take_one(&upload_cuts) {
            let _ = to.write_all(&buf[..cut_after.saturating_sub(sent)]);
            let _ = to.shutdown(Shutdown::Both);
            let _ = from.shutdown(Shutdown::Both);
            return;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        sent += n;
    }
    let _ = to.shutdown(Shutdown::Write);
}

fn serve(
    mut client: TcpStream,
    upstream: SocketAddr,
    cut_after: usize,
    cuts: Arc<AtomicUsize>,
    failures: Arc<AtomicUsize>,
    upload_cuts: Arc<AtomicUsize>,
) {
    if take_one(&failures) {
        let mut buf = [0u8; 4096];
        let _ = client.read(&mut buf);
        let _ = client.write_all(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
    let Ok(mut server) = TcpStream::connect(upstream) else {
        return;
    };
    let (Ok(client_r), Ok(server_w)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || forward_up(client_r, server_w, cut_after, upload_cuts));
    let mut sent = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match server.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if sent + n > cut_after && take_one(&cuts) {
            let keep = cut_after.saturating_sub(sent);
            let _ = client.write_all(&buf[..keep]);
            let _ = client.flush();
            break;
        }
        if client.write_all(&buf[..n]).is_err() {
            break;
        }
        sent += n;
    }
    let _ = client.shutdown(Shutdown::Both);
    let _ = server.shutdown(Shutdown::Both);
    let _ = up.join();
}
