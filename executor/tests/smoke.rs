mod common;
use common::*;

#[tokio::test]
async fn true_runs() {
    let sb = Sandbox::new("true");
    let (code, out) = run_ok(&sb.native(), &sb.spec(&["/bin/true"])).await;
    assert_eq!(code, 0, "{out:?}");
    sb.assert_clean();
}

#[tokio::test]
async fn echo() {
    let sb = Sandbox::new("echo");
    let (code, out) = run_ok(&sb.native(), &sb.sh("echo hello; echo err >&2; exit 3")).await;
    assert_eq!(code, 3, "{out:?}");
    assert_eq!(out.stdout, "hello\n");
    assert_eq!(out.stderr, "err\n");
    sb.assert_clean();
}

#[tokio::test]
async fn runc_echo() {
    let sb = Sandbox::new("runcecho");
    let (code, out) = run_ok(&sb.runc(), &sb.sh("echo hello; echo err >&2; exit 3")).await;
    assert_eq!(code, 3, "{out:?}");
    assert_eq!(out.stdout, "hello\n");
    assert_eq!(out.stderr, "err\n");
    sb.assert_clean();
}

#[tokio::test]
async fn tty_native() {
    let sb = Sandbox::new("tty");
    let mut spec = sb.sh("tty; echo $TERM; test -c /dev/console && echo console; echo err >&2");
    spec.process.tty = true;
    let (code, out) = run_ok(&sb.native(), &spec).await;
    assert_eq!(code, 0, "{out:?}");
    // A terminal merges the streams and ends lines with \r\n.
    let lines: Vec<&str> = out
        .stdout
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .collect();
    // The pty comes from the caller's devpts, so inside it is known as /dev/console.
    assert_eq!(
        lines,
        vec!["/dev/console", "xterm", "console", "err"],
        "{out:?}"
    );
    assert!(out.stderr.is_empty());
    sb.assert_clean();
}

#[tokio::test]
async fn tty_is_refused_by_runc_runtime() {
    let sb = Sandbox::new("ttyrunc");
    let mut spec = sb.sh("true");
    spec.process.tty = true;
    let (result, _) = run(&sb.runc(), &spec).await;
    assert!(result.unwrap_err().to_string().contains("tty"));
    sb.assert_clean();
}

#[tokio::test]
async fn plain_dir_rootfs() {
    // A plain directory rootfs: writes land in it, mountpoints made for the run do not.
    let sb = Sandbox::new("plaindir");
    let root = sb.dir.path().join("root");
    let st = std::process::Command::new("cp")
        .args(["-a", busybox().to_str().unwrap(), root.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(st.success());
    let mut spec = sb.sh("echo x > /written; cat /etc/hostname");
    spec.rootfs = kiln_executor::Rootfs::Dir(root.clone());
    let (code, out) = run_ok(&sb.native(), &spec).await;
    assert_eq!(code, 0, "{out:?}");
    assert_eq!(
        std::fs::read_to_string(root.join("written")).unwrap(),
        "x\n"
    );
    assert!(!root.join("etc/hostname").exists());
    sb.assert_clean();
}

#[test]
fn run_blocking_without_a_runtime() {
    let sb = Sandbox::new("blocking");
    let outcome = sb
        .native()
        .run_blocking(&sb.sh("exit 7"), kiln_executor::RunOptions::default())
        .unwrap();
    assert_eq!(outcome.exit_code(), 7);
    sb.assert_clean();
}

#[tokio::test]
async fn init_reaps_and_forwards() {
    let sb = Sandbox::new("init");
    // Under init, the shell is pid 2 and a zombie of an orphan gets reaped by pid 1.
    let mut spec = sb.sh("echo $$; cat /proc/1/cmdline | tr '\\0' ' '; echo; \
         readlink /proc/1/exe || echo exe-denied; \
         sh -c 'sleep 0.2 & exit 0'; sleep 0.5; \
         ps -o stat,comm | grep -c '^Z' ; exit 4");
    spec.init = true;
    let (code, out) = run_ok(&sb.native(), &spec).await;
    assert_eq!(code, 4, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "2", "{out:?}");
    // pid 1 is kiln's init, whose binary the container cannot reach.
    assert_eq!(lines[2], "exe-denied", "{out:?}");
    assert_eq!(lines[3], "0", "zombies left: {out:?}");
    // A signal to pid 1 reaches the process; its death is reported as 128 + signal.
    let sb = Sandbox::new("init2");
    let mut spec = sb.sh("kill -TERM 1; sleep 5");
    spec.init = true;
    let (code, out) = run_ok(&sb.native(), &spec).await;
    assert_eq!(code, 143, "{out:?}");
    sb.assert_clean();
}

#[tokio::test]
async fn init_is_refused_by_runc_runtime() {
    let sb = Sandbox::new("initrunc");
    let mut spec = sb.sh("true");
    spec.init = true;
    let (result, _) = run(&sb.runc(), &spec).await;
    assert!(result.unwrap_err().to_string().contains("init"));
    sb.assert_clean();
}
