//! `kiln load` and `kiln import` record `load`/`import` image events (as `docker events`
//! shows them), and `kiln run -t` without `-i` forwards SIGTERM/SIGINT to the container.

mod runtime_support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use runtime_support::{image_events, unix_now, Rt};

#[test]
fn load_and_import_are_image_events() {
    let rt = Rt::new();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("bb.tar");
    let id = rt
        .ok(&["inspect", "-f", "{{.Id}}", "busybox"])
        .trim()
        .to_string();
    rt.ok(&["save", "-o", archive.to_str().unwrap(), "busybox"]);
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::fs::write(rootfs.join("etc/hello"), "hi\n").unwrap();
    let tarball = dir.path().join("rootfs.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tarball)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());

    let start = unix_now();
    rt.ok(&["load", "-q", "-i", archive.to_str().unwrap()]);
    let named = rt
        .ok(&["import", tarball.to_str().unwrap(), "imported:1"])
        .trim()
        .to_string();
    let unnamed = rt
        .ok(&["import", "-m", "other", tarball.to_str().unwrap()])
        .trim()
        .to_string();

    let evs = image_events(&rt, &start, &[]);
    let has = |action: &str, id: &str, name: &str| {
        evs.iter()
            .any(|(a, i, n)| (a.as_str(), i.as_str(), n.as_str()) == (action, id, name))
    };
    assert!(
        has("load", &id, "docker.io/library/busybox:latest"),
        "{evs:?}"
    );
    assert!(
        has("import", &named, "docker.io/library/imported:1"),
        "{evs:?}"
    );
    assert!(has("import", &unnamed, &unnamed), "{evs:?}");
    let loads = evs.iter().filter(|e| e.0 == "load").count();
    let imports = evs.iter().filter(|e| e.0 == "import").count();
    assert_eq!((loads, imports), (1, 2), "{evs:?}");
}

/// Kills the child if the test fails before it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A shell that reports the signal it traps and says `ready` every 0.1 s until then.
const TRAPPING: &str = "trap 'echo got-INT; exit 5' INT; trap 'echo got-TERM; exit 7' TERM; \
                        while true; do echo ready; sleep 0.1; done";

/// `kiln run -t` (no `-i`) of the trapping shell; `sig` is sent to kiln once the container
/// is ready. Returns (exit code, output).
fn tty_run_signalled(rt: &Rt, sig: &str) -> (i32, String) {
    signalled(
        rt,
        &["run", "--rm", "-t", "busybox", "sh", "-c", TRAPPING],
        sig,
    )
}

/// `kiln ARGS` (stdin closed); `sig` is sent to kiln once `ready` shows. (exit code, output)
fn signalled(rt: &Rt, args: &[&str], sig: &str) -> (i32, String) {
    let mut cmd = rt.k.cmd(args);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped());
    let mut child = Child(cmd.spawn().unwrap());
    let mut stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !String::from_utf8_lossy(&out).contains("ready") {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(chunk) => out.extend(chunk),
            Err(_) => panic!(
                "the container never got ready: {}",
                String::from_utf8_lossy(&out)
            ),
        }
    }
    let pid = child.0.id().to_string();
    let st = Command::new("kill")
        .args([&format!("-{sig}"), &pid])
        .status()
        .unwrap();
    assert!(st.success());
    let status = child.0.wait().unwrap();
    while let Ok(chunk) = rx.recv_timeout(Duration::from_secs(5)) {
        out.extend(chunk);
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    (status.code().unwrap_or(-1), text)
}

#[test]
fn run_with_tty_but_no_stdin_forwards_signals() {
    let rt = Rt::new();
    let (code, out) = tty_run_signalled(&rt, "TERM");
    assert!(out.contains("got-TERM"), "{out}");
    assert_eq!(code, 7, "{out}");
    let (code, out) = tty_run_signalled(&rt, "INT");
    assert!(out.contains("got-INT"), "{out}");
    assert_eq!(code, 5, "{out}");
}

#[test]
fn attach_with_tty_but_no_stdin_forwards_signals() {
    let rt = Rt::new();
    let id = rt.ok(&["run", "-d", "-t", "busybox", "sh", "-c", TRAPPING]);
    let id = id.trim();
    let (code, out) = signalled(&rt, &["attach", id], "TERM");
    assert!(out.contains("got-TERM"), "{out}");
    assert_eq!(code, 7, "{out}");
    rt.ok(&["rm", "-f", id]);
}
