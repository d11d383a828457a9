//! Loopback servers for the remote-source build tests: a tiny HTTP/1.1 file server (with
//! Last-Modified, ETag and If-None-Match, counting what it served) and a `git daemon`.
//! Both stop when dropped, also when a test fails.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One file the server offers.
#[derive(Clone)]
pub struct File {
    pub body: Vec<u8>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

#[derive(Default)]
struct State {
    files: BTreeMap<String, File>,
    /// (path, status) of every answered request, in order.
    log: Vec<(String, u16)>,
}

pub struct HttpServer {
    pub base: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    addr: std::net::SocketAddr,
}

impl HttpServer {
    pub fn start() -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(c) = conn {
                    serve(c, &st);
                }
            }
        });
        HttpServer {
            base: format!("http://{addr}"),
            state,
            stop,
            thread: Some(thread),
            addr,
        }
    }

    pub fn put(&self, path: &str, file: File) {
        self.state
            .lock()
            .unwrap()
            .files
            .insert(path.to_string(), file);
    }

    /// Statuses answered for `path`, in order.
    pub fn served(&self, path: &str) -> Vec<u16> {
        let st = self.state.lock().unwrap();
        st.log
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, s)| *s)
            .collect()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(conn: TcpStream, state: &Mutex<State>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() || request_line.is_empty() {
        return;
    }
    let mut headers = BTreeMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut st = state.lock().unwrap();
    let file = st.files.get(&path).cloned();
    let (status, extra, body) = match file {
        None => (404, String::new(), b"not found".to_vec()),
        Some(f) => {
            let mut extra = String::new();
            if let Some(e) = &f.etag {
                extra.push_str(&format!("ETag: {e}\r\n"));
            }
            if let Some(l) = &f.last_modified {
                extra.push_str(&format!("Last-Modified: {l}\r\n"));
            }
            let matches = match (&f.etag, headers.get("if-none-match")) {
                (Some(e), Some(want)) => want.split(',').any(|w| w.trim() == e),
                _ => false,
            };
            if matches {
                (304, extra, Vec::new())
            } else {
                (200, extra, f.body.clone())
            }
        }
    };
    st.log.push((path, status));
    drop(st);
    let reason = match status {
        200 => "OK",
        304 => "Not Modified",
        _ => "Not Found",
    };
    let mut out = conn;
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
        if status == 304 { 0 } else { body.len() }
    );
    let _ = out.write_all(head.as_bytes());
    if method != "HEAD" && status != 304 {
        let _ = out.write_all(&body);
    }
}

/// `git` in `dir`, required to succeed; returns stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=kiln test",
            "-c",
            "user.email=test@kiln.invalid",
        ])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "protocol.file.allow=always",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `git daemon` exporting every repository under a directory, on a loopback port.
pub struct GitDaemon {
    pub base: String,
    child: Child,
}

impl GitDaemon {
    pub fn start(dir: &Path) -> GitDaemon {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("git")
            .arg("daemon")
            .arg("--reuseaddr")
            .arg("--export-all")
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", dir.display()))
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let d = GitDaemon {
            base: format!("git://127.0.0.1:{port}"),
            child,
        };
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return d;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("git daemon did not start listening on port {port}");
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
