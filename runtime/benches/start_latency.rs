//! Container start latency: `kiln run --rm busybox true` (foreground) and a detached start
//! (`kiln create` + `kiln start`, timed to `start` returning with the container running),
//! beside `podman run` and `docker run` on the same busybox image when those are installed.
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
    let mut ids = Vec::new();
    report(
        "kiln create + start (detached)",
        time(|| {
            let id = ok(&mut k(&["create", "busybox", "sleep", "60"]));
            ok(&mut k(&["start", &id]));
            ids.push(id);
        }),
    );
    for id in &ids {
        ok(&mut k(&["rm", "-f", id]));
    }
    for tool in ["podman", "docker"] {
        if !available(tool) {
            println!("{tool:<34} not installed (Debian package {tool}/docker.io)");
            continue;
        }
        let load = Command::new(tool)
            .args(["load", "-i", archive.to_str().unwrap_or_default()])
            .output();
        if !load.is_ok_and(|o| o.status.success()) {
            println!("{tool:<34} could not load the busybox image; skipped");
            continue;
        }
        report(
            &format!("{tool} run --rm busybox true"),
            time(|| {
                ok(Command::new(tool).args([
                    "run",
                    "--rm",
                    "--network",
                    "none",
                    "busybox",
                    "true",
                ]));
            }),
        );
        let mut ids = Vec::new();
        report(
            &format!("{tool} run -d busybox sleep 60"),
            time(|| {
                ids.push(ok(
                    Command::new(tool).args(["run", "-d", "busybox", "sleep", "60"])
                ))
            }),
        );
        for id in &ids {
            let _ = Command::new(tool).args(["rm", "-f", id]).output();
        }
    }
}
