//! Container start latency: `kiln run --rm busybox true` (foreground) and a detached start
//! (`kiln create` + `kiln start`, timed to `start` returning with the container running),
//! beside `podman run` and `docker run` on the same busybox image when those are installed.
//! Every tool runs with `--network none` (networking setup is measured elsewhere), and
//! kiln and podman once more on their default bridge. For
//! docker the bench starts its own dockerd (own data root, exec root and socket,
//! `--iptables=false --bridge=none`), loads the image with `docker load`, and stops it at
//! the end.
//!
//!     cargo build -p kiln && cargo bench -p kiln-runtime --bench start_latency
//!
//! Uses the kiln binary from KILN_BIN, else target/{release,debug}/kiln.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 20;

fn kiln_bin() -> PathBuf {
    if let Ok(p) = std::env::var("KILN_BIN") {
        return PathBuf::from(p);
    }
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
    for profile in ["release", "debug"] {
        let p = target.join(profile).join("kiln");
        if p.exists() {
            return p;
        }
    }
    panic!("no kiln binary: run `cargo build -p kiln` or set KILN_BIN");
}

fn ok(cmd: &mut Command) -> String {
    let out = cmd.stdin(Stdio::null()).output().expect("spawning");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn report(name: &str, mut d: Vec<Duration>) {
    d.sort();
    let ms = |x: Duration| x.as_secs_f64() * 1000.0;
    let median = d[d.len() / 2];
    let p90 = d[d.len() * 9 / 10];
    println!(
        "{name:<34} median {:8.2} ms   min {:8.2} ms   p90 {:8.2} ms",
        ms(median),
        ms(d[0]),
        ms(p90)
    );
}

fn time(mut f: impl FnMut()) -> Vec<Duration> {
    f(); // warm-up (page cache, snapshot unpacking)
    (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect()
}

fn available(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn main() {
    let kiln = kiln_bin();
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("root");
    let archive = tmp.path().join("busybox.tar");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/busybox-image.sh");
    ok(Command::new(script).arg(&archive));
    let k = |args: &[&str]| {
        let mut c = Command::new(&kiln);
        c.arg("--root").arg(&root).args(args);
        c
    };
    ok(&mut k(&[
        "load",
        "-i",
        archive.to_str().unwrap_or_default(),
    ]));

    report(
        "kiln run --rm busybox true",
        time(|| {
            ok(&mut k(&[
                "run",
                "--rm",
                "--network",
                "none",
                "busybox",
                "true",
            ]));
        }),
    );
    // The default: on the store's bridge (a veth and a pinned namespace per run).
    report(
        "kiln run --rm busybox true (bridge)",
        time(|| {
            ok(&mut k(&["run", "--rm", "busybox", "true"]));
        }),
    );
    // The bridge and its nftables table are host objects: they must not outlive the bench.
    ok(&mut k(&["network", "rm", "bridge"]));
    let mut ids = Vec::new();
    report(
        "kiln create + start (detached)",
        time(|| {
            let id = ok(&mut k(&[
                "create",
                "--network",
                "none",
                "busybox",
                "sleep",
                "60",
            ]));
            ok(&mut k(&["start", &id]));
            ids.push(id);
        }),
    );
    for id in &ids {
        ok(&mut k(&["rm", "-f", id]));
    }
    // Kept alive until the end of main: dropping it stops the daemon.
    let dockerd = Dockerd::start(tmp.path());
    for tool in ["podman", "docker"] {
        let base: Vec<String> = match tool {
            "docker" => match &dockerd {
                Some(d) => d.client_args(),
                None => {
                    println!("{tool:<34} not available (Debian package docker.io)");
                    continue;
                }
            },
            _ => vec![tool.to_string()],
        };
        if !available(&base[0]) {
            println!("{tool:<34} not installed (Debian package {tool})");
            continue;
        }
        let cmd = || {
            let mut c = Command::new(&base[0]);
            c.args(&base[1..]);
            c
        };
        let load = cmd()
            .args(["load", "-i", archive.to_str().unwrap_or_default()])
            .output();
        if !load.is_ok_and(|o| o.status.success()) {
            println!("{tool:<34} could not load the busybox image; skipped");
            continue;
        }
        report(
            &format!("{tool} run --rm busybox true"),
            time(|| {
                ok(cmd().args(["run", "--rm", "--network", "none", "busybox", "true"]));
            }),
        );
        if tool == "podman" {
            report(
                "podman run --rm busybox true (bridge)",
                time(|| {
                    ok(cmd().args(["run", "--rm", "busybox", "true"]));
                }),
            );
        }
        let mut ids = Vec::new();
        report(
            &format!("{tool} run -d busybox sleep 60"),
            time(|| {
                ids.push(ok(cmd().args([
                    "run",
                    "-d",
                    "--network",
                    "none",
                    "busybox",
                    "sleep",
                    "60",
                ])))
            }),
        );
        for id in &ids {
            let _ = cmd().args(["rm", "-f", id]).output();
        }
    }
    drop(dockerd);
}

/// A private dockerd for the bench: its own data root and socket so it neither disturbs nor
/// depends on a daemon already running on the host. Stopped (and its state removed) on drop.
struct Dockerd {
    child: std::process::Child,
    socket: PathBuf,
    data: PathBuf,
    exec_root: PathBuf,
}

impl Dockerd {
    fn start(tmp: &Path) -> Option<Dockerd> {
        if !available("dockerd") {
            return None;
        }
        let data = tmp.join("docker");
        // The exec root holds containerd's sockets, whose paths must stay short.
        let exec_root = PathBuf::from(format!("/run/kiln-bench-docker-{}", std::process::id()));
        let socket = exec_root.join("docker.sock");
        std::fs::create_dir_all(&exec_root).ok()?;
        let log = std::fs::File::create(tmp.join("dockerd.log")).ok()?;
        let child = Command::new("dockerd")
            .arg("--data-root")
            .arg(&data)
            .arg("--exec-root")
            .arg(&exec_root)
            .arg("--pidfile")
            .arg(exec_root.join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .args(["--iptables=false", "--ip6tables=false", "--bridge=none"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .ok()?;
        let d = Dockerd {
            child,
            socket,
            data,
            exec_root,
        };
        let until = Instant::now() + Duration::from_secs(60);
        while Instant::now() < until {
            let up = Command::new(d.client())
                .args(d.client_args().iter().skip(1))
                .arg("version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if up {
                return Some(d);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        println!(
            "dockerd did not come up in 60 s; see {}",
            tmp.join("dockerd.log").display()
        );
        None
    }

    /// Debian's client (matches Debian's daemon), else whatever `docker` is on PATH.
    fn client(&self) -> String {
        if Path::new("/usr/bin/docker").exists() {
            "/usr/bin/docker".into()
        } else {
            "docker".into()
        }
    }

    fn client_args(&self) -> Vec<String> {
        vec![
            self.client(),
            "-H".into(),
            format!("unix://{}", self.socket.display()),
        ]
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // SIGTERM lets dockerd stop containerd and unmount its layers.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            if self.child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
        let _ = std::fs::remove_dir_all(&self.exec_root);
    }
}
