//! The kiln binary acts as the executor's container helper (argv[0] =
//! "kiln-container-helper", control socket on fd 3), and nothing of that mechanism reaches
//! the container.

use kiln_executor::*;
use std::path::Path;

const KILN: &str = env!("CARGO_BIN_EXE_kiln");

fn rootfs(dir: &Path) -> std::path::PathBuf {
    let root = dir.join("busybox");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/busybox-rootfs.sh");
    let st = std::process::Command::new("bash")
        .arg(script)
        .arg(&root)
        .status()
        .unwrap();
    assert!(st.success());
    root
}

#[test]
fn kiln_runs_a_container_as_the_helper() {
    let dir = tempfile::tempdir().unwrap();
    let lower = rootfs(dir.path());
    for d in ["upper", "work", "state"] {
        std::fs::create_dir(dir.path().join(d)).unwrap();
    }
    let mut spec = ContainerSpec::new(
        format!("hook-{}", std::process::id()),
        Rootfs::Overlay {
            lower: vec![lower],
            upper: dir.path().join("upper"),
            work: dir.path().join("work"),
        },
        vec![
            "/bin/sh".into(),
            "-c".into(),
            "env | sort; echo argv0=$0; ls /proc/self/fd | tr '\\n' ' '; exit 5".into(),
        ],
    );
    spec.process.env.push("ONLY=this".into());
    spec.hostname = Some("hooked".into());
    let exec = Executor::new(ExecutorConfig::native(KILN, dir.path().join("state")));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let outcome = exec
        .run_blocking(
            &spec,
            RunOptions {
                output: Some(tx),
                stdin: Stdin::Null,
            },
        )
        .unwrap();
    assert_eq!(outcome.exit_code(), 5);
    let mut out = String::new();
    while let Ok(line) = rx.try_recv() {
        out.push_str(&String::from_utf8_lossy(&line.line));
        out.push('\n');
    }
    // Exactly the spec's environment plus Docker's defaults; sh adds PWD/SHLVL itself.
    let env: Vec<&str> = out
        .lines()
        .take_while(|l| !l.starts_with("argv0="))
        .filter(|l| !l.starts_with("PWD=") && !l.starts_with("SHLVL="))
        .collect();
    assert_eq!(
        env,
        vec![
            "HOME=/root",
            "HOSTNAME=hooked",
            "ONLY=this",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        ],
        "{out}"
    );
    assert!(out.contains("argv0=/bin/sh"), "{out}");
    // ls's own directory fd is the only one beyond stdio.
    assert!(out.contains("\n0 1 2 3 \n"), "{out}");
}

#[test]
fn helper_mode_without_control_socket_fails_clearly() {
    use std::os::unix::process::CommandExt;
    let out = std::process::Command::new(KILN)
        .arg0(kiln_executor::helper::HELPER_ARG0)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("must be started by kiln's executor"), "{err}");
}
