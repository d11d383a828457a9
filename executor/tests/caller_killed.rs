//! When the caller (the kiln process) is SIGKILLed mid-run, the native helper kills the
//! container and removes its cgroups and state: nothing is left behind.
//! The caller is this test binary re-executed into the ignored `caller_process` test.

mod common;
use common::*;
use kiln_executor::*;
use std::time::Duration;

const ENV_DIR: &str = "KILN_TEST_CALLER_DIR";
const ENV_ID: &str = "KILN_TEST_CALLER_ID";

#[tokio::test]
#[ignore = "run by caller_killed_mid_run as a separate process"]
async fn caller_process() {
    let (Ok(dir), Ok(id)) = (std::env::var(ENV_DIR), std::env::var(ENV_ID)) else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let mut spec = ContainerSpec::new(
        id.clone(),
        Rootfs::Overlay {
            lower: vec![busybox()],
            upper: dir.join("upper"),
            work: dir.join("work"),
        },
        vec![
            "/bin/sh".into(),
            "-c".into(),
            "sleep 3600 & sleep 3600".into(),
        ],
    );
    spec.process.env.push(format!("KILN_TEST_ID={id}"));
    let exec = Executor::new(ExecutorConfig::native(HELPER, dir.join("state")));
    let _ = exec.run(&spec, RunOptions::default()).await;
}

#[test]
fn caller_killed_mid_run() {
    busybox();
    let sb = Sandbox::new("callerkill");
    let mut caller = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "caller_process", "--test-threads=1"])
        .env(ENV_DIR, sb.dir.path())
        .env(ENV_ID, &sb.id)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until both sleeps run in the container's cgroup (sh execs the last one).
    let procs = own_cgroup_dir("pids")
        .join(format!("kiln-{}", sb.id))
        .join("cgroup.procs");
    let mut started = false;
    for _ in 0..2000 {
        let n = std::fs::read_to_string(&procs)
            .map(|s| s.lines().count())
            .unwrap_or(0);
        if n >= 2 {
            started = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    caller.kill().unwrap();
    caller.wait().unwrap();
    assert!(started, "the container never started");
    // Cleanup happens asynchronously in the orphaned helper; give it time.
    let mut last = None;
    for _ in 0..1000 {
        match std::panic::catch_unwind(|| sb.assert_clean()) {
            Ok(()) => return,
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    std::panic::resume_unwind(last.unwrap());
}
