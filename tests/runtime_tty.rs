//! Interactive containers through their monitor, driven from a pseudo-terminal the test
//! opens: `run -it` (type, read the answer, resize and check `stty size`, detach with
//! ctrl-p ctrl-q), `attach` again (with `--detach-keys`), `create -it` + `start -ai`, and
//! `run -i` with piped stdin.

mod runtime_support;

use runtime_support::Rt;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// kiln running on the slave side of a pty the test holds the master of; killed on drop.
struct Pty {
    master: File,
    child: Child,
    seen: Vec<u8>,
}

impl Pty {
    fn spawn(rt: &Rt, args: &[&str]) -> Pty {
        let (mut master, mut slave) = (0, 0);
        // SAFETY: openpty writes two descriptors; the name/termios/winsize arguments are null.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: fresh descriptors from openpty, owned here.
        let (master, slave) = unsafe { (File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        set_size(&master, 24, 80);
        let mut cmd = rt.k.cmd(args);
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: setsid and TIOCSCTTY are async-signal-safe; the pty becomes kiln's
        // controlling terminal so a resize reaches it as SIGWINCH, as in a real terminal.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        Pty {
            master,
            child,
            seen: Vec::new(),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).unwrap();
    }

    /// Reads until `pat` shows up in what arrived since the last match (30 s bound: a
    /// correctness limit, not a speed goal).
    fn expect(&mut self, pat: &str) -> String {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let text = String::from_utf8_lossy(&self.seen).into_owned();
            if let Some(pos) = text.find(pat) {
                self.seen.drain(..pos + pat.len());
                return text;
            }
            assert!(
                Instant::now() < until,
                "timed out waiting for {pat:?}; terminal shows {text:?}"
            );
            let mut pfd = libc::pollfd {
                fd: self.master.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            if unsafe { libc::poll(&mut pfd, 1, 100) } > 0 {
                let mut buf = [0u8; 4096];
                match self.master.read(&mut buf) {
                    Ok(n) if n > 0 => self.seen.extend_from_slice(&buf[..n]),
                    // EIO: kiln exited and closed the terminal.
                    _ => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
    }

    fn resize(&self, rows: u16, cols: u16) {
        set_size(&self.master, rows, cols);
    }

    fn wait(mut self) -> i32 {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code().unwrap_or(-1);
            }
            assert!(Instant::now() < until, "kiln did not exit");
            // Keep the terminal drained so kiln never blocks writing to it.
            let mut buf = [0u8; 4096];
            let mut pfd = libc::pollfd {
                fd: self.master.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            if unsafe { libc::poll(&mut pfd, 1, 20) } > 0 {
                let _ = self.master.read(&mut buf);
            }
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn set_size(fd: &impl AsRawFd, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a valid winsize.
    assert_eq!(
        unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) },
        0
    );
}

#[test]
fn run_it_resize_detach_and_attach_again() {
    let rt = Rt::new();
    let mut s = Pty::spawn(
        &rt,
        &[
            "run",
            "-it",
            "--name",
            "tty1",
            "--network",
            "none",
            "busybox",
            "sh",
        ],
    );
    s.expect("# ");
    // The command line echoes as hel''lo; only the output reads hello.
    s.send(b"echo hel''lo\r");
    s.expect("hello\r\n");
    // The window size the container sees follows this terminal's.
    s.send(b"stty size\r");
    s.expect("24 80");
    s.resize(33, 111);
    // The resize travels kiln -> monitor -> pty asynchronously; ask until it shows.
    rt.eventually("the new window size inside", || {
        s.send(b"stty size\r");
        s.expect("# ").contains("33 111")
    });
    // A lone ctrl-p is data, not half a detach: the shell still answers.
    s.send(b"\x10");
    s.send(b"\x15echo still\r");
    s.expect("still\r\n");
    s.send(b"\x10\x11");
    assert_eq!(s.wait(), 0, "detaching leaves kiln with 0");
    assert!(
        rt.field_by_name("tty1").starts_with("Up"),
        "still running after detach"
    );

    let mut a = Pty::spawn(&rt, &["attach", "--detach-keys", "ctrl-a,x", "tty1"]);
    a.send(b"echo again$((40+2))\r");
    a.expect("again42");
    a.send(b"\x01x");
    assert_eq!(a.wait(), 0);
    assert!(rt.field_by_name("tty1").starts_with("Up"));

    let mut b = Pty::spawn(&rt, &["attach", "tty1"]);
    b.send(b"echo third\r");
    b.expect("third\r\n");
    b.send(b"exit 3\r");
    assert_eq!(b.wait(), 3, "attach exits with the container's code");
    assert!(rt.field_by_name("tty1").starts_with("Exited (3)"));
    // Everything typed and printed went to the json-file log as well.
    let logs = rt.ok(&["logs", "tty1"]);
    assert!(logs.contains("again42") && logs.contains("third"), "{logs}");
}

#[test]
fn the_first_look_sees_the_starting_terminals_size() {
    let rt = Rt::new();
    // No attach has sent a size yet when `stty` runs: the size came with the start.
    let mut s = Pty::spawn(
        &rt,
        &[
            "run",
            "-it",
            "--rm",
            "--network",
            "none",
            "busybox",
            "stty",
            "size",
        ],
    );
    s.expect("24 80");
    assert_eq!(s.wait(), 0);
}

#[test]
fn create_it_then_start_ai_and_piped_stdin() {
    let rt = Rt::new();
    let id = rt
        .ok(&[
            "create",
            "-it",
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            "echo ready; read line; echo \"got:$line\"; exit 7",
        ])
        .trim()
        .to_string();
    let mut s = Pty::spawn(&rt, &["start", "-ai", &id]);
    // Printed before kiln connected to the monitor, and still shown.
    s.expect("ready");
    s.send(b"abc\r");
    s.expect("got:abc");
    assert_eq!(s.wait(), 7);

    // -i without a terminal: stdin streams through the monitor until its end.
    let mut child =
        rt.k.cmd(&[
            "run",
            "-i",
            "--rm",
            "--name",
            "piped",
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            "cat; echo err >&2; exit 5",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"one\ntwo\n").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one\ntwo\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    assert!(rt.field_by_name("piped").is_empty(), "--rm removed it");
}

#[test]
fn attach_to_a_detached_interactive_container_and_bad_keys() {
    let rt = Rt::new();
    let id = rt
        .ok(&["run", "-d", "-it", "--network", "none", "busybox", "sh"])
        .trim()
        .to_string();
    let (code, err) = rt.fails(&["attach", "--detach-keys", "meta-x", &id]);
    assert_eq!(code, 125);
    assert!(err.contains("invalid detach keys"), "{err}");
    let mut a = Pty::spawn(&rt, &["attach", &id]);
    a.send(b"echo $((6*7))\r");
    a.expect("42");
    a.send(b"exit\r");
    assert_eq!(a.wait(), 0);

    // `run -it --rm`, detached: it runs on, and is removed once it ends.
    let mut s = Pty::spawn(
        &rt,
        &[
            "run",
            "-it",
            "--rm",
            "--name",
            "rmme",
            "--network",
            "none",
            "busybox",
            "sh",
        ],
    );
    s.expect("# ");
    s.send(b"\x10\x11");
    assert_eq!(s.wait(), 0);
    assert!(rt.field_by_name("rmme").starts_with("Up"));
    let mut a = Pty::spawn(&rt, &["attach", "rmme"]);
    a.send(b"exit 2\r");
    assert_eq!(a.wait(), 2);
    rt.eventually("rmme to be removed", || rt.field_by_name("rmme").is_empty());
}
