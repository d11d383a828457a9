//! Shared test support: a cached busybox rootfs, executors for both runtimes, per-test
//! overlay dirs, output collection and host-cleanliness checks.
#![allow(dead_code)]

use kiln_executor::*;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::mpsc;

pub const HELPER: &str = env!("CARGO_BIN_EXE_kiln-executor-helper");

/// The shared read-only busybox rootfs (built once, under a lock, by
/// testdata/busybox-rootfs.sh). Tests only ever use it as an overlay lower dir.
pub fn busybox() -> PathBuf {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kiln-executor");
    std::fs::create_dir_all(&base).unwrap();
    let done = base.join("busybox");
    if done.join("bin/busybox").exists() {
        return done;
    }
    let lock = File::create(base.join("busybox.lock")).unwrap();
    // Held until the end of this function; other test binaries wait here.
    let _lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .unwrap();
    if !done.join("bin/busybox").exists() {
        let tmp = base.join(format!("busybox.tmp{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/busybox-rootfs.sh");
        let st = std::process::Command::new("bash")
            .arg(&script)
            .arg(&tmp)
            .status()
            .unwrap();
        assert!(st.success(), "busybox-rootfs.sh failed");
        std::fs::rename(&tmp, &done).unwrap();
    }
    done
}

/// A test's private dirs (state, upper, work) in a temp dir, plus a unique id.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub id: String,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl Sandbox {
    pub fn new(name: &str) -> Sandbox {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let id = format!("t{}-{}-{}", std::process::id(), n, name);
        let dir = tempfile::Builder::new()
            .prefix("kiln-exec-test")
            .tempdir()
            .unwrap();
        for d in ["upper", "work", "state"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        Sandbox { dir, id }
    }

    pub fn upper(&self) -> PathBuf {
        self.dir.path().join("upper")
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// A spec over busybox with this sandbox's upper/work dirs; env carries a marker that
    /// lets `assert_clean` find stray processes.
    pub fn spec(&self, args: &[&str]) -> ContainerSpec {
        let mut spec = ContainerSpec::new(
            self.id.clone(),
            Rootfs::Overlay {
                lower: vec![busybox()],
                upper: self.upper(),
                work: self.dir.path().join("work"),
            },
            args.iter().map(|s| s.to_string()).collect(),
        );
        spec.process.env.push(format!("KILN_TEST_ID={}", self.id));
        spec
    }

    pub fn sh(&self, script: &str) -> ContainerSpec {
        self.spec(&["/bin/sh", "-c", script])
    }

    pub fn native(&self) -> Executor {
        Executor::new(ExecutorConfig::native(HELPER, self.state()))
    }

    pub fn runc(&self) -> Executor {
        Executor::new(ExecutorConfig::runc("/usr/sbin/runc", self.state()))
    }

    pub fn executor(&self, runtime: &str) -> Executor {
        match runtime {
            "runc" => self.runc(),
            _ => self.native(),
        }
    }

    /// No mount, cgroup, state or process of this container is left on the host.
    pub fn assert_clean(&self) {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            !mountinfo.contains(&self.id) && !mountinfo.contains(self.dir.path().to_str().unwrap()),
            "mount left behind for {}:\n{mountinfo}",
            self.id
        );
        let cg = format!("kiln-{}", self.id);
        for entry in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
            let own = own_cgroup(&entry.file_name().to_string_lossy());
            let dir = entry.path().join(own.trim_start_matches('/')).join(&cg);
            assert!(!dir.exists(), "cgroup left behind: {}", dir.display());
        }
        let state: Vec<_> = std::fs::read_dir(self.state())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(
            state
                .iter()
                .all(|p| p.file_name().is_some_and(|n| n == "runc")),
            "state left behind: {state:?}"
        );
        let marker = format!("KILN_TEST_ID={}", self.id);
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            if let Ok(env) = std::fs::read(entry.path().join("environ")) {
                let hit = env.split(|b| *b == 0).any(|e| e == marker.as_bytes());
                assert!(
                    !hit,
                    "process {:?} of the container is still alive",
                    entry.file_name()
                );
            }
        }
    }
}

/// This process's cgroup directory in the hierarchy mounted at /sys/fs/cgroup/<name>.
pub fn own_cgroup_dir(hierarchy: &str) -> PathBuf {
    Path::new("/sys/fs/cgroup")
        .join(hierarchy)
        .join(own_cgroup(hierarchy).trim_start_matches('/'))
}

/// This process's cgroup path in the hierarchy mounted at /sys/fs/cgroup/<name>.
fn own_cgroup(hierarchy: &str) -> String {
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, path) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        let names: Vec<&str> = ctrls
            .split(',')
            .map(|c| c.trim_start_matches("name="))
            .collect();
        if names.contains(&hierarchy) || (hierarchy == "unified" && ctrls.is_empty()) {
            return path.to_string();
        }
    }
    "/".into()
}

/// Collected output of one run.
#[derive(Debug, Default)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub lines: Vec<OutputLine>,
}

pub async fn run(exec: &Executor, spec: &ContainerSpec) -> (Result<RunOutcome, ExecError>, Output) {
    run_with(exec, spec, Stdin::Null).await
}

pub async fn run_with(
    exec: &Executor,
    spec: &ContainerSpec,
    stdin: Stdin,
) -> (Result<RunOutcome, ExecError>, Output) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let result = exec
        .run(
            spec,
            RunOptions {
                output: Some(tx),
                stdin,
            },
        )
        .await;
    let mut out = Output::default();
    while let Ok(line) = rx.try_recv() {
        let text = String::from_utf8_lossy(&line.line).into_owned();
        let s = match line.stream {
            Stream::Stdout => &mut out.stdout,
            Stream::Stderr => &mut out.stderr,
        };
        s.push_str(&text);
        if !line.partial {
            s.push('\n');
        }
        out.lines.push(line);
    }
    (result, out)
}

/// Runs and expects a normal exit; returns (exit code, output).
pub async fn run_ok(exec: &Executor, spec: &ContainerSpec) -> (i32, Output) {
    let (result, out) = run(exec, spec).await;
    match result {
        Ok(o) => (o.exit_code(), out),
        Err(e) => panic!(
            "run failed: {e}\nstdout: {}\nstderr: {}",
            out.stdout, out.stderr
        ),
    }
}
