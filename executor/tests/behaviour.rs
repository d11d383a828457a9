//! Behaviour tests over the busybox rootfs, each run natively and through runc (the
//! reference). Every test checks the host is clean afterwards.

mod common;
use common::*;
use kiln_executor::*;

/// Runs `$name(runtime)` once per runtime.
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
    exit_codes,
    signals_are_128_plus,
    stdout_stderr_separation,
    env_cwd_defaults,
    user_resolution,
    missing_user_is_an_error,
    hostname_and_etc_files,
    ps_sees_only_the_container,
    no_host_files_visible,
    writes_land_in_upper,
    mounts_ro_rw_tmpfs,
    masked_and_readonly_paths,
    default_capabilities,
    no_new_privileges,
    seccomp_blocks_namespaces,
    only_std_fds,
    network_none_has_only_loopback,
    dev_has_only_default_devices,
    stdin_bytes,
    rlimits_within_host,
    readonly_rootfs,
);

async fn exit_codes(rt: &str) {
    for code in [0, 1, 42, 255] {
        let sb = Sandbox::new("exit");
        let (got, out) = run_ok(&sb.executor(rt), &sb.sh(&format!("exit {code}"))).await;
        assert_eq!(got, code, "{out:?}");
        sb.assert_clean();
    }
}

async fn signals_are_128_plus(rt: &str) {
    let sb = Sandbox::new("sig");
    // pid 1 ignores signals it has no handler for, so kill a child.
    let (result, out) = run(&sb.executor(rt), &sb.sh("sh -c 'kill -9 $$'; exit $?")).await;
    let outcome = result.unwrap();
    assert_eq!(outcome.exit_code(), 137, "{out:?}");
    assert!(!outcome.oom_killed);
    sb.assert_clean();
}

async fn stdout_stderr_separation(rt: &str) {
    let sb = Sandbox::new("streams");
    let script = "for i in 1 2 3; do echo out$i; echo err$i >&2; done; printf tail";
    let (code, out) = run_ok(&sb.executor(rt), &sb.sh(script)).await;
    assert_eq!(code, 0);
    assert_eq!(out.stdout, "out1\nout2\nout3\ntail");
    assert_eq!(out.stderr, "err1\nerr2\nerr3\n");
    let last = out
        .lines
        .iter()
        .rfind(|l| l.stream == Stream::Stdout)
        .unwrap();
    assert!(last.partial && last.line == b"tail");
    for pair in out.lines.windows(2) {
        if pair[0].stream == pair[1].stream {
            assert!(pair[0].time <= pair[1].time, "timestamps go backwards");
        }
    }
    sb.assert_clean();
}

async fn env_cwd_defaults(rt: &str) {
    let sb = Sandbox::new("env");
    let mut spec = sb.sh("echo \"$PATH|$HOME|$HOSTNAME|$FOO|$(pwd)\"");
    spec.process.env.push("FOO=bar baz".into());
    spec.process.cwd = Some("/work/dir".into());
    spec.hostname = Some("builder".into());
    let (code, out) = run_ok(&sb.executor(rt), &spec).await;
    assert_eq!(code, 0, "{out:?}");
    assert_eq!(
        out.stdout,
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|/root|builder|bar baz|/work/dir\n"
    );
    // An explicit PATH wins; HOME follows the user.
    let sb = Sandbox::new("env2");
    let mut spec = sb.sh("echo \"$PATH|$HOME\"");
    spec.process.env.push("PATH=/bin".into());
    spec.process.user = Some("www-data".into());
    let (_, out) = run_ok(&sb.executor(rt), &spec).await;
    assert_eq!(out.stdout, "/bin|/var/www\n");
    sb.assert_clean();
}

async fn user_resolution(rt: &str) {
    for (user, expect) in [
        (None, "0 0 0 10"),
        (Some("www-data"), "33 33 33"),
        (Some("1234:5678"), "1234 5678 5678"),
        (Some("nobody:users"), "65534 100 100"),
        (Some("daemon:0"), "1 0 0"),
    ] {
        let sb = Sandbox::new("user");
        let mut spec = sb.sh("echo $(id -u) $(id -g) $(id -G)");
        spec.process.user = user.map(str::to_string);
        let (code, out) = run_ok(&sb.executor(rt), &spec).await;
        assert_eq!(code, 0, "{user:?}: {out:?}");
        assert_eq!(out.stdout.trim(), expect, "user {user:?}");
        sb.assert_clean();
    }
}

async fn missing_user_is_an_error(rt: &str) {
    let sb = Sandbox::new("nouser");
    let mut spec = sb.spec(&["/bin/true"]);
    spec.process.user = Some("ghost".into());
    let (result, _) = run(&sb.executor(rt), &spec).await;
    let err = result.unwrap_err().to_string();
    assert!(err.contains("unable to find user \"ghost\""), "{err}");
    sb.assert_clean();
}

async fn hostname_and_etc_files(rt: &str) {
    let sb = Sandbox::new("host");
    let mut spec =
        sb.sh("hostname; cat /etc/hostname; grep -c localhost /etc/hosts; grep myhost /etc/hosts");
    spec.hostname = Some("box1".into());
    spec.extra_hosts.push(("myhost".into(), "10.1.2.3".into()));
    let (code, out) = run_ok(&sb.executor(rt), &spec).await;
    assert_eq!(code, 0, "{out:?}");
    assert_eq!(out.stdout, "box1\nbox1\n2\n10.1.2.3\tmyhost\n");
    // The bound /etc files are not part of the layer.
    assert!(!sb.upper().join("etc/hosts").exists());
    assert!(!sb.upper().join("etc/hostname").exists());
    assert!(
        !sb.upper().join("etc").exists(),
        "copied-up /etc left in the layer"
    );
    sb.assert_clean();
}

async fn ps_sees_only_the_container(rt: &str) {
    let sb = Sandbox::new("ps");
    // Wait until the background sleep has exec'd, then list everything.
    let script = "sleep 100 & until ps -o comm | grep -q sleep; do :; done; ps -o pid,comm; true";
    let (code, out) = run_ok(&sb.executor(rt), &sb.sh(script)).await;
    assert_eq!(code, 0, "{out:?}");
    let rows: Vec<(u32, String)> = out
        .stdout
        .lines()
        .skip(1)
        .map(|r| {
            let (pid, comm) = r.trim().split_once(' ').unwrap();
            (pid.parse().unwrap(), comm.trim().to_string())
        })
        .collect();
    let comms: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(comms, vec!["sh", "sleep", "ps"], "{rows:?}");
    assert_eq!(rows[0].0, 1, "pid 1 is the container's process: {rows:?}");
    sb.assert_clean();
}

async fn no_host_files_visible(rt: &str) {
    let sb = Sandbox::new("hostfiles");
    let marker = sb.dir.path().join("host-marker");
    std::fs::write(&marker, "secret").unwrap();
    let script = format!(
        "test -e {m} && echo LEAK; test -e /work && echo LEAK; test -e /etc/debian_version && echo LEAK; ls /",
        m = marker.display()
    );
    let (code, out) = run_ok(&sb.executor(rt), &sb.sh(&script)).await;
    assert_eq!(code, 0, "{out:?}");
    assert!(!out.stdout.contains("LEAK"), "{out:?}");
    assert!(out.stdout.contains("bin"));
    sb.assert_clean();
}

async fn writes_land_in_upper(rt: &str) {
    let sb = Sandbox::new("upper");
    let (code, out) = run_ok(
        &sb.executor(rt),
        &sb.sh(
            "echo data > /newfile && mkdir -p /var/lib/x && echo y > /var/lib/x/y && rm /bin/true",
        ),
    )
    .await;
    assert_eq!(code, 0, "{out:?}");
    let upper = sb.upper();
    assert_eq!(
        std::fs::read_to_string(upper.join("newfile")).unwrap(),
        "data\n"
    );
    assert_eq!(
        std::fs::read_to_string(upper.join("var/lib/x/y")).unwrap(),
        "y\n"
    );
    // A deletion is an overlay whiteout (char device 0/0); the lower dir is untouched.
    use std::os::unix::fs::FileTypeExt;
    let wh = std::fs::symlink_metadata(upper.join("bin/true")).unwrap();
    assert!(wh.file_type().is_char_device());
    assert!(std::fs::symlink_metadata(busybox().join("bin/true")).is_ok());
    assert!(!busybox().join("newfile").exists());
    sb.assert_clean();
}

async fn mounts_ro_rw_tmpfs(rt: &str) {
    let sb = Sandbox::new("mounts");
    let ro = sb.dir.path().join("ro");
    let rw = sb.dir.path().join("rw");
    std::fs::create_dir_all(&ro).unwrap();
    std::fs::create_dir_all(&rw).unwrap();
    std::fs::write(ro.join("in"), "hello").unwrap();
    let secret = sb.dir.path().join("secret");
    std::fs::write(&secret, "s3cret").unwrap();
    let mut spec = sb.sh(
        "cat /ro/in; echo; touch /ro/x 2>/dev/null && echo RO-WRITABLE; \
         echo written > /rw/out; cat /run/secrets/token; echo; \
         ls -A /usr/bin | wc -l; echo t > /usr/bin/t && cat /usr/bin/t",
    );
    let bind = |src: &std::path::Path, dest: &str, readonly| Mount {
        destination: dest.into(),
        kind: MountKind::Bind {
            source: src.to_path_buf(),
        },
        readonly,
    };
    spec.mounts = vec![
        bind(&ro, "/ro", true),
        bind(&rw, "/rw", false),
        bind(&secret, "/run/secrets/token", true),
        Mount {
            destination: "/usr/bin".into(),
            kind: MountKind::Tmpfs {
                size: Some(1 << 20),
            },
            readonly: false,
        },
    ];
    let (code, out) = run_ok(&sb.executor(rt), &spec).await;
    assert_eq!(code, 0, "{out:?}");
    assert_eq!(out.stdout, "hello\ns3cret\n0\nt\n");
    assert_eq!(
        std::fs::read_to_string(rw.join("out")).unwrap(),
        "written\n"
    );
    assert!(!ro.join("x").exists());
    // Mountpoints created for the run are not left in the layer.
    for p in ["ro", "rw", "run"] {
        assert!(!sb.upper().join(p).exists(), "{p} left in upper");
    }
    sb.assert_clean();
}

async fn masked_and_readonly_paths(rt: &str) {
    let sb = Sandbox::new("masked");
    let script = "wc -c < /proc/keys; ls /sys/firmware | wc -l; \
        (echo x > /proc/sys/kernel/domainname) 2>/dev/null && echo SYS-WRITABLE; \
        (echo 1 > /proc/sysrq-trigger) 2>/dev/null && echo SYSRQ-WRITABLE; \
        touch /sys/x 2>/dev/null && echo SYSFS-WRITABLE; echo done";
    let (code, out) = run_ok(&sb.executor(rt), &sb.sh(script)).await;
    assert_eq!(code, 0, "{out:?}");
    assert_eq!(out.stdout, "0\n0\ndone\n", "{out:?}");
    sb.assert_clean();
}

fn default_cap_mask() -> u64 {
    spec_caps_mask(kiln_executor::spec::DEFAULT_CAPABILITIES)
}

fn spec_caps_mask(names: &[&str]) -> u64 {
    use std::str::FromStr;
    names
        .iter()
        .map(|n| 1u64 << caps::Capability::from_str(n).unwrap().index())
        .fold(0, |a, b| a | b)
}

fn status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("{key} missing in {status}"))
        .trim()
        .to_string()
}

async fn default_capabilities(rt: &str) {
    let sb = Sandbox::new("caps");
    let (code, out) = run_ok(&sb.executor(rt), &sb.sh("cat /proc/self/status")).await;
    assert_eq!(code, 0);
    let want = format!("{:016x}", default_cap_mask());
    for key in ["CapEff:", "CapPrm:", "CapBnd:"] {
        assert_eq!(status_field(&out.stdout, key), want, "{key}");
    }
    assert_eq!(status_field(&out.stdout, "CapInh:"), "0000000000000000");
    assert_eq!(status_field(&out.stdout, "CapAmb:"), "0000000000000000");
    // A non-root user keeps the bounding set but has no effective capabilities.
    let sb = Sandbox::new("caps2");
    let mut spec = sb.sh("cat /proc/self/status");
    spec.process.user = Some("1000".into());
    let (_, out) = run_ok(&sb.executor(rt), &spec).await;
    assert_eq!(status_field(&out.stdout, "CapEff:"), "0000000000000000");
    assert_eq!(status_field(&out.stdout, "CapBnd:"), want);
    sb.assert_clean();
}

async fn no_new_privileges(rt: &str) {
    for (nnp, want) in [(false, "0"), (true, "1")] {
        let sb = Sandbox::new("nnp");
        let mut spec = sb.sh("cat /proc/self/status");
        spec.no_new_privileges = nnp;
        let (_, out) = run_ok(&sb.executor(rt), &spec).await;
        assert_eq!(status_field(&out.stdout, "NoNewPrivs:"), want);
        sb.assert_clean();
    }
}

async fn seccomp_blocks_namespaces(rt: &str) {
    // A user namespace needs no capability, so only the seccomp profile stops this.
    let sb = Sandbox::new("seccomp");
    let script = "grep Seccomp: /proc/self/status; unshare -U true && echo UNSHARED; true";
    let (code, out) = run_ok(&sb.executor(rt), &sb.sh(script)).await;
    assert_eq!(code, 0);
    assert!(out.stdout.contains("Seccomp:\t2"), "{out:?}");
    assert!(!out.stdout.contains("UNSHARED"), "{out:?}");
    assert!(out.stderr.contains("Operation not permitted"), "{out:?}");
    let sb = Sandbox::new("unconfined");
    let mut spec = sb.sh(script);
    spec.seccomp = SeccompMode::Unconfined;
    let (_, out) = run_ok(&sb.executor(rt), &spec).await;
    assert!(out.stdout.contains("Seccomp:\t0"), "{out:?}");
    assert!(out.stdout.contains("UNSHARED"), "{out:?}");
    sb.assert_clean();
}

async fn only_std_fds(rt: &str) {
    // A descriptor the caller leaks (no O_CLOEXEC) must not reach the container.
    let path = std::ffi::CString::new("/etc/hostname").unwrap();
    let leaked = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY) };
    assert!(leaked >= 0);
    let sb = Sandbox::new("fds");
    let (code, out) = run_ok(&sb.executor(rt), &sb.spec(&["/bin/ls", "/proc/self/fd"])).await;
    unsafe { libc::close(leaked) };
    assert_eq!(code, 0);
    // ls itself holds one descriptor (the directory it lists).
    let fds: Vec<u32> = out
        .stdout
        .split_whitespace()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(fds.len(), 4, "{fds:?}");
    assert_eq!(&fds[..3], &[0, 1, 2]);
    sb.assert_clean();
}

async fn network_none_has_only_loopback(rt: &str) {
    let sb = Sandbox::new("net");
    let (code, out) = run_ok(
        &sb.executor(rt),
        &sb.sh("tail -n +3 /proc/net/dev | cut -d: -f1"),
    )
    .await;
    assert_eq!(code, 0);
    assert_eq!(
        out.stdout.split_whitespace().collect::<Vec<_>>(),
        vec!["lo"]
    );
    let sb = Sandbox::new("nethost");
    let mut spec = sb.sh("tail -n +3 /proc/net/dev | wc -l");
    spec.network = NetworkMode::Host;
    let host_ifaces = std::fs::read_to_string("/proc/net/dev")
        .unwrap()
        .lines()
        .count()
        - 2;
    let (_, out) = run_ok(&sb.executor(rt), &spec).await;
    assert_eq!(out.stdout.trim(), host_ifaces.to_string());
    sb.assert_clean();
}

async fn dev_has_only_default_devices(rt: &str) {
    let sb = Sandbox::new("dev");
    let (code, out) = run_ok(&sb.executor(rt), &sb.sh("ls /dev | sort | tr '\\n' ' '")).await;
    assert_eq!(code, 0);
    // /dev/core exists only where the kernel has /proc/kcore (as runc does it).
    let core = if std::path::Path::new("/proc/kcore").exists() {
        "core "
    } else {
        ""
    };
    assert_eq!(
        out.stdout,
        format!(
            "{core}fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero "
        )
    );
    sb.assert_clean();
}

async fn stdin_bytes(rt: &str) {
    let sb = Sandbox::new("stdin");
    let (result, out) = run_with(
        &sb.executor(rt),
        &sb.spec(&["/bin/sh", "-c", "tr a-z A-Z"]),
        Stdin::Bytes(b"hello\nworld\n".to_vec()),
    )
    .await;
    assert_eq!(result.unwrap().exit_code(), 0);
    assert_eq!(out.stdout, "HELLO\nWORLD\n");
    sb.assert_clean();
}

async fn rlimits_within_host(rt: &str) {
    let sb = Sandbox::new("rlimit");
    let mut spec = sb.sh("ulimit -n; ulimit -Hn");
    spec.limits.rlimits.push(Rlimit {
        kind: RlimitKind::Nofile,
        soft: 1024,
        hard: 2048,
    });
    let (code, out) = run_ok(&sb.executor(rt), &spec).await;
    assert_eq!(code, 0, "{out:?}");
    assert_eq!(out.stdout, "1024\n2048\n");
    sb.assert_clean();
}

async fn readonly_rootfs(rt: &str) {
    let sb = Sandbox::new("rorootfs");
    let mut spec =
        sb.sh("touch /x 2>/dev/null && echo WRITABLE; echo ok > /scratch/y && cat /scratch/y");
    spec.readonly_rootfs = true;
    spec.mounts.push(Mount {
        destination: "/scratch".into(),
        kind: MountKind::Tmpfs { size: None },
        readonly: false,
    });
    let (code, out) = run_ok(&sb.executor(rt), &spec).await;
    assert_eq!(code, 0, "{out:?}");
    assert_eq!(out.stdout, "ok\n");
    sb.assert_clean();
}
