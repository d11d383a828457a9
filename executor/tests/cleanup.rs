//! The whole host's mount table, kiln cgroups and container processes are the same before
//! and after runs that end in every way (exit, setup failure, OOM, timeout, cancel, a
//! dropped future), for both runtimes. One test in its own binary, so nothing of ours
//! runs concurrently with the snapshots.

mod common;
use common::*;
use kiln_executor::*;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, PartialEq, Eq)]
struct HostState {
    mounts: BTreeSet<String>,
    cgroups: BTreeSet<String>,
    processes: BTreeSet<String>,
}

fn kiln_cgroups(dir: &Path, out: &mut BTreeSet<String>, depth: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            let p = e.path();
            if e.file_name().to_string_lossy().starts_with("kiln-") {
                out.insert(p.display().to_string());
            }
            if depth < 4 {
                kiln_cgroups(&p, out, depth + 1);
            }
        }
    }
}

fn snapshot() -> HostState {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .map(|l| l.split(' ').skip(3).take(2).collect::<Vec<_>>().join(" "))
        .collect();
    let mut cgroups = BTreeSet::new();
    kiln_cgroups(Path::new("/sys/fs/cgroup"), &mut cgroups, 0);
    let mut processes = BTreeSet::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let environ = std::fs::read(e.path().join("environ")).unwrap_or_default();
        let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
        let ours = argv0 == kiln_executor::helper::HELPER_ARG0.as_bytes()
            || environ.windows(12).any(|w| w == b"KILN_TEST_ID");
        if ours {
            processes.insert(format!(
                "{:?} {}",
                e.file_name(),
                String::from_utf8_lossy(&cmdline)
            ));
        }
    }
    HostState {
        mounts,
        cgroups,
        processes,
    }
}

async fn scenarios(rt: &str) {
    // Normal exit and a failing command.
    let sb = Sandbox::new("c-ok");
    run_ok(&sb.executor(rt), &sb.sh("echo hi; sleep 0.1 & exit 3")).await;
    let sb = Sandbox::new("c-fail");
    let _ = run(&sb.executor(rt), &sb.spec(&["does-not-exist"])).await;
    // OOM.
    let sb = Sandbox::new("c-oom");
    let mut spec = sb.spec(&[
        "/bin/dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=128M",
        "count=1",
    ]);
    spec.limits.memory = Some(32 << 20);
    let _ = run(&sb.executor(rt), &spec).await;
    // Timeout with background processes.
    let sb = Sandbox::new("c-timeout");
    let mut spec = sb.sh("sleep 3600 & sleep 3600 & sleep 3600");
    spec.timeout = Some(Duration::from_millis(300));
    let _ = run(&sb.executor(rt), &spec).await;
    // Cancel.
    let sb = Sandbox::new("c-cancel");
    let _ = sb
        .executor(rt)
        .run_until(
            &sb.sh("sleep 3600"),
            RunOptions::default(),
            tokio::time::sleep(Duration::from_millis(300)),
        )
        .await;
    // Dropped future.
    let sb = Sandbox::new("c-drop");
    let exec = sb.executor(rt);
    let spec = sb.sh("sleep 3600 & sleep 3600");
    let _ = tokio::time::timeout(
        Duration::from_millis(400),
        exec.run(&spec, RunOptions::default()),
    )
    .await;
    // Mounts of every kind.
    let sb = Sandbox::new("c-mounts");
    let mut spec = sb.sh("true");
    spec.mounts.push(Mount {
        destination: "/data".into(),
        kind: MountKind::Bind {
            source: sb.dir.path().to_path_buf(),
        },
        readonly: true,
    });
    spec.mounts.push(Mount {
        destination: "/scratch".into(),
        kind: MountKind::Tmpfs { size: None },
        readonly: false,
    });
    run_ok(&sb.executor(rt), &spec).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_is_unchanged_after_every_kind_of_run() {
    busybox();
    let before = snapshot();
    // The snapshot does see a running container (so the final comparison can fail).
    let sb = Sandbox::new("c-seen");
    let exec = sb.native();
    let spec = sb.sh("sleep 3600");
    let task = tokio::spawn(async move { exec.run(&spec, RunOptions::default()).await });
    let mut seen = false;
    for _ in 0..1000 {
        let now = snapshot();
        if now.cgroups != before.cgroups && !now.processes.is_empty() {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    task.abort();
    let _ = task.await;
    assert!(
        seen,
        "a running container's cgroups and processes were not visible"
    );
    scenarios("native").await;
    scenarios("runc").await;
    let after = snapshot();
    assert_eq!(before, after);
}
