//! cgroup limits, timeout, cancellation and setup failures, natively and through runc.

mod common;
use common::*;
use kiln_executor::*;
use std::time::Duration;

macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn native() {
                super::$name("native").await
            }
            #[tokio::test]
            async fn runc() {
                super::$name("runc").await
            }
        }
    )*};
}

both!(
    memory_limit_oom_kills,
    memory_below_limit_is_fine,
    pids_limit_stops_fork_bomb,
    cpu_limits_are_applied,
    timeout_kills,
    cancel_kills,
    dropping_the_future_cleans_up,
    command_not_found,
    rlimit_above_host_hard_limit_fails,
);

async fn memory_limit_oom_kills(rt: &str) {
    let sb = Sandbox::new("oom");
    // dd's 128 MiB buffer is filled from /dev/zero: every page gets touched.
    let mut spec = sb.spec(&[
        "/bin/dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=128M",
        "count=1",
    ]);
    spec.limits.memory = Some(32 << 20);
    let (result, out) = run(&sb.executor(rt), &spec).await;
    let outcome = result.unwrap();
    assert!(outcome.oom_killed, "{outcome:?} {out:?}");
    assert_eq!(outcome.exit_code(), 137);
    sb.assert_clean();
}

async fn memory_below_limit_is_fine(rt: &str) {
    let sb = Sandbox::new("nooom");
    let mut spec = sb.spec(&[
        "/bin/dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=4M",
        "count=4",
    ]);
    spec.limits.memory = Some(64 << 20);
    let (result, out) = run(&sb.executor(rt), &spec).await;
    let outcome = result.unwrap();
    assert!(!outcome.oom_killed, "{outcome:?} {out:?}");
    assert_eq!(outcome.exit_code(), 0, "{out:?}");
    sb.assert_clean();
}

async fn pids_limit_stops_fork_bomb(rt: &str) {
    let sb = Sandbox::new("pids");
    // An inner shell tries to start 200 sleepers, noting each success in a file with
    // builtins only; it dies at the first failed fork. Reading the count needs no fork.
    let script = "sh -c 'i=0; while [ $i -lt 200 ]; do sleep 1000 & i=$((i+1)); echo $i > /tmp/n; done' 2>/dev/null; \
                  read n < /tmp/n; echo $n";
    let mut spec = sb.sh(script);
    spec.limits.pids = Some(20);
    spec.timeout = Some(Duration::from_secs(120));
    let (result, out) = run(&sb.executor(rt), &spec).await;
    let outcome = result.unwrap();
    assert!(!outcome.timed_out);
    let n: u32 = out
        .stdout
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{out:?}"));
    // pid 1 and the inner shell count too.
    assert!(n <= 18, "{n} sleepers despite pids=20");
    assert!(n >= 5, "{n}: the sleepers did not start at all? {out:?}");
    sb.assert_clean();
}

async fn cpu_limits_are_applied(rt: &str) {
    let sb = Sandbox::new("cpu");
    let mut spec = sb.sh("sleep 3600");
    spec.limits.cpu_quota = Some(CpuQuota {
        quota_us: 50_000,
        period_us: 100_000,
    });
    spec.limits.cpu_shares = Some(512);
    spec.limits.pids = Some(33);
    // Read the live cgroup from the host while the container runs (runc's sits one level
    // below kiln's), then cancel.
    let dir = std::path::Path::new("/sys/fs/cgroup/cpu").join(format!("kiln-{}", sb.id));
    let leaf = if rt == "runc" {
        dir.join("ctr")
    } else {
        dir.clone()
    };
    let pids = std::path::Path::new("/sys/fs/cgroup/pids")
        .join(format!("kiln-{}", sb.id))
        .join(if rt == "runc" { "ctr" } else { "" });
    let read = |p: std::path::PathBuf| std::fs::read_to_string(p).map(|s| s.trim().to_string());
    let exec = sb.executor(rt);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let watcher = async move {
        let mut seen = None;
        for _ in 0..2000 {
            // Wait for the user's process itself: runc sets limits after its init joined.
            let procs = read(leaf.join("cgroup.procs")).unwrap_or_default();
            let running = procs.lines().any(|pid| {
                read(std::path::Path::new("/proc").join(pid).join("comm"))
                    .is_ok_and(|c| c == "sleep")
            });
            if running {
                seen = Some(vec![
                    read(leaf.join("cpu.cfs_quota_us")).unwrap(),
                    read(leaf.join("cpu.cfs_period_us")).unwrap(),
                    read(leaf.join("cpu.shares")).unwrap(),
                    read(pids.join("pids.max")).unwrap(),
                ]);
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let _ = stop_tx.send(());
        seen
    };
    let cancel = async {
        let _ = stop_rx.await;
    };
    let (outcome, seen) = tokio::join!(
        exec.run_until(&spec, RunOptions::default(), cancel),
        watcher
    );
    assert!(outcome.unwrap().cancelled);
    assert_eq!(
        seen.expect("the container's cgroup never had processes"),
        vec!["50000", "100000", "512", "33"]
    );
    sb.assert_clean();
}

async fn timeout_kills(rt: &str) {
    let sb = Sandbox::new("timeout");
    let mut spec = sb.sh("echo started; sleep 3600");
    spec.timeout = Some(Duration::from_millis(500));
    let (result, out) = run(&sb.executor(rt), &spec).await;
    let outcome = result.unwrap();
    assert!(outcome.timed_out);
    assert_eq!(outcome.exit_code(), 137);
    assert_eq!(out.stdout, "started\n");
    // Liveness, not speed: it did not wait for the hour-long sleep.
    assert!(outcome.duration < Duration::from_secs(300));
    sb.assert_clean();
}

async fn cancel_kills(rt: &str) {
    let sb = Sandbox::new("cancel");
    let spec = sb.sh("sleep 3600");
    let outcome = sb
        .executor(rt)
        .run_until(
            &spec,
            RunOptions::default(),
            tokio::time::sleep(Duration::from_millis(300)),
        )
        .await
        .unwrap();
    assert!(outcome.cancelled && !outcome.timed_out);
    assert_eq!(outcome.status, ExitStatus::Signal(9));
    sb.assert_clean();
}

async fn dropping_the_future_cleans_up(rt: &str) {
    let sb = Sandbox::new("drop");
    let spec = sb.sh("sleep 3600");
    let exec = sb.executor(rt);
    let fut = exec.run(&spec, RunOptions::default());
    let r = tokio::time::timeout(Duration::from_millis(500), fut).await;
    assert!(r.is_err(), "should still be running");
    // Dropping the future kills the container and removes everything before returning.
    sb.assert_clean();
}

async fn command_not_found(rt: &str) {
    let sb = Sandbox::new("notfound");
    let (result, out) = run(&sb.executor(rt), &sb.spec(&["no-such-command"])).await;
    match result {
        Err(e) => {
            assert_eq!(e.exit_code(), 127, "{e}");
            assert!(e.to_string().contains("not found"), "{e}");
        }
        // runc reports it on stderr and exits non-zero.
        Ok(o) => {
            assert_eq!(rt, "runc");
            assert_ne!(o.exit_code(), 0);
            assert!(out.stderr.contains("not found"), "{out:?}");
        }
    }
    let sb = Sandbox::new("notexec");
    let (result, out) = run(&sb.executor(rt), &sb.spec(&["/etc/passwd"])).await;
    match result {
        Err(e) => assert_eq!(e.exit_code(), 126, "{e}"),
        Ok(o) => {
            assert_eq!(rt, "runc");
            assert_ne!(o.exit_code(), 0, "{out:?}");
        }
    }
    sb.assert_clean();
}

async fn rlimit_above_host_hard_limit_fails(rt: &str) {
    let sb = Sandbox::new("rlimhard");
    let (_, host_hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    let mut spec = sb.spec(&["/bin/true"]);
    spec.limits.rlimits.push(Rlimit {
        kind: RlimitKind::Nofile,
        soft: 1024,
        hard: host_hard + 1,
    });
    let (result, out) = run(&sb.executor(rt), &spec).await;
    match result {
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains("RLIMIT_NOFILE") && msg.contains(&host_hard.to_string()),
                "{msg}"
            );
        }
        Ok(o) => {
            assert_eq!(rt, "runc");
            assert_ne!(o.exit_code(), 0, "{out:?}");
        }
    }
    sb.assert_clean();
}
