//! Helpers for the daemon tests: `kiln daemon` on a test's temp store and its own socket,
//! `kiln --host` against it, raw HTTP to its API, and a guard that stops the daemon (and,
//! after a `kill -9`, unmounts what its builds left mounted) when dropped, also when the
//! test failed. Drop the daemon before the store's own guards: while it runs, in-process
//! commands on its store are refused.
#![allow(dead_code)]

pub mod certs;
pub mod private;
#[path = "../pty_support/mod.rs"]
pub mod pty;

// Every daemon suite also includes build_support (for the store the daemon serves), which
// loads the shared spawning helpers; loading them here a second time would make two copies.
use crate::build_support::kiln_support;
pub use kiln_support::kiln;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Daemon {
    pub root: PathBuf,
    pub sock: PathBuf,
    pub log: PathBuf,
    pub host: String,
    extra: Vec<String>,
    child: Option<Child>,
}

impl Daemon {
    /// `kiln --root ROOT --host unix://DIR/kiln.sock daemon EXTRA…`, ready to answer.
    pub fn start(root: &Path, dir: &Path, extra: &[&str]) -> Daemon {
        let sock = dir.join("kiln.sock");
        Self::start_on(
            root,
            dir,
            &format!("unix://{}", sock.display()),
            sock,
            extra,
        )
    }

    /// A daemon on any `--host`; `probe` is the unix socket to wait for (for TCP, the
    /// caller waits).
    pub fn start_on(root: &Path, dir: &Path, host: &str, sock: PathBuf, extra: &[&str]) -> Daemon {
        let mut d = Daemon {
            root: root.to_path_buf(),
            sock,
            log: dir.join("daemon.log"),
            host: host.to_string(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
        };
        d.spawn();
        d
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = kiln()
            .arg("--root")
            .arg(&self.root)
            .args(["--host", &self.host, "--log-level", "info", "daemon"])
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        if self.host.starts_with("unix://") {
            self.wait_ready();
        }
    }

    /// Wait until the socket answers a ping (or fail with the daemon's log).
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(st) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!(
                    "the daemon exited ({st}) before it answered:\n{}",
                    self.log_text()
                );
            }
            if self.sock.exists() && self.try_get("/v1/_ping").is_some_and(|(s, _)| s == 200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the daemon did not answer within 60s:\n{}", self.log_text());
    }

    /// Poll `cond` every `every` until it holds; past `within` fail with the daemon's log
    /// (a correctness bound, not a speed goal).
    pub fn wait_for(
        &self,
        what: &str,
        within: Duration,
        every: Duration,
        mut cond: impl FnMut() -> bool,
    ) {
        let deadline = Instant::now() + within;
        while !cond() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}:\n{}",
                self.log_text()
            );
            std::thread::sleep(every);
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// `kiln --root ROOT --host HOST ARGS…`.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = kiln();
        c.arg("--root")
            .arg(&self.root)
            .args(["--host", &self.host])
            .args(args);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        kiln_support::output(self.cmd(args))
    }

    /// Run through the daemon and require success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        kiln_support::stdout_of(
            self.run(args),
            format_args!("kiln --host {} {args:?}", self.host),
            &format!("\ndaemon log:\n{}", self.log_text()),
        )
    }

    /// One HTTP/1.1 request on the unix socket: (status, body).
    pub fn try_get(&self, path: &str) -> Option<(u16, String)> {
        let mut s = UnixStream::connect(&self.sock).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: kiln\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        parse_http(&text)
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        self.try_get(path)
            .unwrap_or_else(|| panic!("GET {path} failed:\n{}", self.log_text()))
    }

    /// The value of a Prometheus sample line `name` (with labels) from /v1/metrics.
    pub fn metric(&self, name: &str) -> f64 {
        let (_, body) = self.get("/v1/metrics");
        metric_value(&body, name)
    }

    /// SIGTERM and wait for the exit.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        signal(child.id(), "TERM");
        Some(child.wait().unwrap())
    }

    /// SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start again with the same arguments.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart after stop or kill9");
        self.spawn();
    }

    pub fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            signal(c.id(), sig);
        }
    }
}

pub fn signal(pid: u32, sig: &str) {
    let st = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success(), "kill -{sig} {pid}");
}

/// Status and body of an HTTP/1.1 response (chunked bodies joined).
pub fn parse_http(text: &str) -> Option<(u16, String)> {
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    if !chunked {
        return Some((status, body.to_string()));
    }
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).ok()?;
        if n == 0 {
            break;
        }
        out.push_str(after.get(..n)?);
        rest = after.get(n + 2..)?;
    }
    Some((status, out))
}

pub fn metric_value(body: &str, name: &str) -> f64 {
    body.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in:\n{body}"))
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            // Containers a failed test left: their monitors must not outlive it.
            let ids = self.run(&["ps", "-aq", "--no-trunc"]).stdout;
            for id in String::from_utf8_lossy(&ids).split_whitespace() {
                let _ = self.run(&["rm", "-f", "-v", id]);
            }
        }
        if let Some(mut child) = self.child.take() {
            signal(child.id(), "TERM");
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        unmount_under(&self.root);
        // Forwarded `kiln run`s put containers on the daemon store's bridge.
        kiln_support::remove_networks(&self.root);
    }
}

/// Lazily unmount whatever is still mounted under `root` (a killed daemon's build steps),
/// deepest first, so the temp dir can be removed.
pub fn unmount_under(root: &Path) {
    let needle = root.to_string_lossy().into_owned();
    let mut targets: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
        .filter(|t| t.starts_with(&needle))
        .collect();
    targets.sort_by_key(|t| std::cmp::Reverse(t.len()));
    for t in targets {
        let _ = Command::new("umount").args(["-l", &t]).status();
    }
}
