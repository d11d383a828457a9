//! A caller killed between making a container's cgroups and starting its helper leaves the
//! `kiln-<id>` cgroups and the state directory; the next executor made on that state
//! directory removes them (killing what is left inside), and leaves live containers alone.

mod common;
use common::*;
use kiln_executor::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What a dead caller left, undone on drop whatever the test did.
struct Leftovers {
    cgroups: Vec<PathBuf>,
    sleeper: std::process::Child,
    mount: PathBuf,
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        let _ = self.sleeper.kill();
        let _ = self.sleeper.wait();
        let _ = nix::mount::umount2(&self.mount, nix::mount::MntFlags::MNT_DETACH);
        for c in &self.cgroups {
            for _ in 0..500 {
                if !c.exists() || std::fs::remove_dir(c).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// A state directory as a killed caller leaves it (lock file unlocked, a mount inside, as
/// an OCI bundle's rootfs would be), and its cgroups with a process still inside.
fn dead_caller(sb: &Sandbox) -> Leftovers {
    let dir = sb.state().join(&sb.id);
    for d in ["rootfs", "etc"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::write(dir.join("lock"), b"").unwrap();
    std::fs::write(dir.join("etc/hosts"), b"127.0.0.1 localhost\n").unwrap();
    let mount = dir.join("rootfs");
    nix::mount::mount(
        Some("tmpfs"),
        &mount,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
    let sleeper = std::process::Command::new("sleep")
        .arg("600")
        .env("KILN_TEST_ID", &sb.id)
        .spawn()
        .unwrap();
    let mut left = Leftovers {
        cgroups: Vec::new(),
        sleeper,
        mount,
    };
    for h in ["pids", "memory"] {
        let cg = own_cgroup_dir(h).join(format!("kiln-{}", sb.id));
        std::fs::create_dir(&cg).unwrap();
        left.cgroups.push(cg.clone());
        std::fs::write(cg.join("cgroup.procs"), left.sleeper.id().to_string()).unwrap();
    }
    left
}

fn reaped(child: &mut std::process::Child) -> bool {
    for _ in 0..500 {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

#[test]
fn a_dead_callers_cgroups_mounts_and_state_are_reclaimed() {
    busybox();
    let sb = Sandbox::new("reclaim-dead");
    let mut left = dead_caller(&sb);
    assert!(left.cgroups.iter().all(|c| c.exists()));
    let _exec = Executor::new(ExecutorConfig::native(HELPER, sb.state()));
    assert!(
        reaped(&mut left.sleeper),
        "the process left in the cgroup lives on"
    );
    for c in &left.cgroups {
        assert!(!c.exists(), "cgroup {} left", c.display());
    }
    sb.assert_clean();
}

#[test]
fn a_state_dir_without_a_lock_goes_only_when_old() {
    let sb = Sandbox::new("reclaim-nolock");
    let young = sb.state().join("young");
    let old = sb.state().join("old");
    for d in [&young, &old] {
        std::fs::create_dir_all(d.join("etc")).unwrap();
    }
    let st = std::process::Command::new("touch")
        .args(["-d", "5 minutes ago"])
        .arg(&old)
        .status()
        .unwrap();
    assert!(st.success());
    let _exec = Executor::new(ExecutorConfig::native(HELPER, sb.state()));
    assert!(!old.exists(), "an old unlocked state dir stayed");
    assert!(young.exists(), "a state dir being created was removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_containers_state_and_cgroups_are_left_alone() {
    busybox();
    let sb = Sandbox::new("reclaim-live");
    let exec = sb.native();
    let spec = sb.sh("sleep 3600");
    let task = tokio::spawn(async move { exec.run(&spec, RunOptions::default()).await });
    let state = sb.state().join(&sb.id);
    let procs = own_cgroup_dir("pids")
        .join(format!("kiln-{}", sb.id))
        .join("cgroup.procs");
    let running = |p: &Path| {
        std::fs::read_to_string(p)
            .map(|s| !s.trim().is_empty())
            .unwrap_or(false)
    };
    for _ in 0..2000 {
        if running(&procs) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(running(&procs), "the container never started");
    let _other = Executor::new(ExecutorConfig::native(HELPER, sb.state()));
    assert!(state.join("lock").exists(), "a live container's state went");
    assert!(running(&procs), "a live container was killed");
    assert!(!task.is_finished());
    task.abort();
    let _ = task.await;
    let mut last = None;
    for _ in 0..500 {
        match std::panic::catch_unwind(|| sb.assert_clean()) {
            Ok(()) => return,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if let Some(e) = last {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn a_reclaimer_never_takes_a_lock_being_made() {
    // Owners lock while a reclaimer sweeps the same root over and over: no owner may fail
    // to lock, and no live owner's directory may go.
    let sb = Sandbox::new("reclaim-race");
    let root = sb.state();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                kiln_executor::reclaim::reclaim(&root);
            }
        });
        for i in 0..300 {
            let dir = root.join(format!("c{i}"));
            std::fs::create_dir(&dir).unwrap();
            let lock = kiln_executor::reclaim::take_lock(&dir);
            assert!(lock.is_ok(), "owner {i} could not lock: {lock:?}");
            assert!(
                dir.join("lock").exists(),
                "owner {i}'s live directory was reclaimed"
            );
            std::fs::remove_dir_all(&dir).unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
}
