//! The classic container breakouts, each tried natively and through runc; none may reach
//! the host.

mod common;
use common::*;
use kiln_executor::*;
use sha2_free::digest;
use std::os::unix::fs::symlink;
use std::path::Path;

/// A tiny content fingerprint (no extra dependency): length plus FNV-1a of the bytes.
mod sha2_free {
    pub fn digest(path: &std::path::Path) -> (usize, u64) {
        let bytes = std::fs::read(path).unwrap();
        let mut h: u64 = 0xcbf29ce484222325;
        for b in &bytes {
            h ^= *b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
        (bytes.len(), h)
    }
}

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
    proc_self_exe_overwrite,
    leaked_directory_fd,
    symlinked_workdir,
    symlinked_volume,
    proc_pid_root,
    mount_is_refused,
);

/// CVE-2019-5736: overwriting the runtime binary through /proc/<pid>/exe.
async fn proc_self_exe_overwrite(rt: &str) {
    let sb = Sandbox::new("exe");
    let helper_before = digest(Path::new(HELPER));
    let busybox_before = digest(&busybox().join("bin/busybox"));
    let script = "for p in /proc/[0-9]*; do readlink $p/exe; done; \
                  for t in /proc/self/exe /proc/1/exe; do (echo evil > $t) 2>/dev/null && echo WROTE $t; done; \
                  (echo evil >> /bin/busybox) 2>/dev/null; true";
    let (code, out) = run_ok(&sb.executor(rt), &sb.sh(script)).await;
    assert_eq!(code, 0, "{out:?}");
    for line in out.stdout.lines().filter(|l| !l.starts_with("WROTE")) {
        assert_eq!(
            line, "/bin/busybox",
            "a process inside runs a host binary: {out:?}"
        );
    }
    assert_eq!(
        digest(Path::new(HELPER)),
        helper_before,
        "helper binary modified"
    );
    assert_eq!(
        digest(&busybox().join("bin/busybox")),
        busybox_before,
        "lower layer modified"
    );
    sb.assert_clean();
}

/// CVE-2024-21626: a host directory fd leaked into the container, reached through
/// /proc/self/fd/N as the working directory or a path.
async fn leaked_directory_fd(rt: &str) {
    let sb = Sandbox::new("leakfd");
    let host_dir = sb.dir.path().join("hostdir");
    std::fs::create_dir(&host_dir).unwrap();
    std::fs::write(host_dir.join("HOST-SECRET"), "x").unwrap();
    let c = std::ffi::CString::new(host_dir.to_str().unwrap()).unwrap();
    // Deliberately without O_CLOEXEC.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
    assert!(fd >= 0);
    let script = "for n in $(seq 3 64); do ls /proc/self/fd/$n/ 2>/dev/null; done; ls; true";
    let mut spec = sb.sh(script);
    let (plain, plain_out) = run(&sb.executor(rt), &spec).await;
    // The same fd number as the working directory.
    spec.process.cwd = Some(format!("/proc/self/fd/{fd}"));
    let sb2 = Sandbox::new("leakfd2");
    spec.id = sb2.id.clone();
    spec.rootfs = sb2.spec(&["true"]).rootfs;
    let (as_cwd, cwd_out) = run(&sb2.executor(rt), &spec).await;
    unsafe { libc::close(fd) };
    assert_eq!(plain.unwrap().exit_code(), 0, "{plain_out:?}");
    assert!(!plain_out.stdout.contains("HOST-SECRET"), "{plain_out:?}");
    // Either setup refuses the directory or it is not the host's.
    if as_cwd.is_ok() {
        assert!(!cwd_out.stdout.contains("HOST-SECRET"), "{cwd_out:?}");
    }
    sb.assert_clean();
    sb2.assert_clean();
}

/// A layer whose WORKDIR is a symlink pointing at a host path.
fn escaping_layer(sb: &Sandbox, target: &Path) -> std::path::PathBuf {
    let layer = sb.dir.path().join("layer");
    std::fs::create_dir(&layer).unwrap();
    let rel = format!("../../../../../../../..{}", target.display());
    symlink(&rel, layer.join("rel")).unwrap();
    symlink(target, layer.join("abs")).unwrap();
    layer
}

async fn symlinked_workdir(rt: &str) {
    for link in ["/rel", "/abs"] {
        let sb = Sandbox::new("wdlink");
        let host = sb.dir.path().join("host-target");
        std::fs::create_dir(&host).unwrap();
        let layer = escaping_layer(&sb, &host);
        let mut spec = sb.sh("touch escaped && pwd");
        if let Rootfs::Overlay { lower, .. } = &mut spec.rootfs {
            lower.push(layer);
        }
        spec.process.cwd = Some(format!("{link}/sub"));
        let (result, out) = run(&sb.executor(rt), &spec).await;
        assert!(
            !host.join("sub/escaped").exists(),
            "{link}: wrote to the host"
        );
        assert!(!host.join("sub").exists(), "{link}: created a host dir");
        let code = match &result {
            Ok(o) => o.exit_code(),
            Err(e) => {
                eprintln!("{link}: {e}");
                -1
            }
        };
        // runc refuses a WORKDIR whose symlink target is missing ("mkdir: file exists"),
        // which is safe too; the native runtime resolves it inside the rootfs.
        if rt == "native" || code == 0 {
            assert_eq!(code, 0, "{out:?}");
            let inside = sb
                .upper()
                .join(host.strip_prefix("/").unwrap())
                .join("sub/escaped");
            assert!(
                inside.exists(),
                "{link}: file not in the container: {out:?}"
            );
        }
        sb.assert_clean();
    }
}

async fn symlinked_volume(rt: &str) {
    let sb = Sandbox::new("vollink");
    let host = sb.dir.path().join("host-target");
    std::fs::create_dir(&host).unwrap();
    let layer = escaping_layer(&sb, &host);
    let source = sb.dir.path().join("volume");
    std::fs::create_dir(&source).unwrap();
    std::fs::write(source.join("file"), "from-volume").unwrap();
    let mut spec = sb.sh("cat /rel/file; echo; echo new > /rel/new");
    if let Rootfs::Overlay { lower, .. } = &mut spec.rootfs {
        lower.push(layer);
    }
    spec.mounts.push(Mount {
        destination: "/rel".into(),
        kind: MountKind::Bind {
            source: source.clone(),
        },
        readonly: false,
    });
    let (result, out) = run(&sb.executor(rt), &spec).await;
    let code = result.unwrap().exit_code();
    assert_eq!(code, 0, "{out:?}");
    assert_eq!(out.stdout, "from-volume\n");
    assert_eq!(
        std::fs::read_to_string(source.join("new")).unwrap(),
        "new\n"
    );
    assert_eq!(
        std::fs::read_dir(&host).unwrap().count(),
        0,
        "host target touched"
    );
    sb.assert_clean();
}

/// /proc/<pid>/root of anything visible leads only into the container.
async fn proc_pid_root(rt: &str) {
    let sb = Sandbox::new("pidroot");
    let mut spec = sb.sh(
        "ls /proc | grep -c '^[0-9]*$'; for p in /proc/[0-9]*; do cat $p/root/etc/hostname; done; \
         test -e /proc/1/root/work && echo LEAK; true",
    );
    spec.hostname = Some("insidebox".into());
    let (code, out) = run_ok(&sb.executor(rt), &spec).await;
    assert_eq!(code, 0, "{out:?}");
    let mut lines = out.stdout.lines();
    let n: usize = lines.next().unwrap().parse().unwrap();
    assert!(n <= 4, "{n} processes visible: {out:?}");
    for l in lines {
        assert_eq!(l, "insidebox", "{out:?}");
    }
    sb.assert_clean();
}

async fn mount_is_refused(rt: &str) {
    let sb = Sandbox::new("mount");
    let (code, out) = run_ok(
        &sb.executor(rt),
        &sb.sh("mkdir -p /mnt/p; mount -t proc proc /mnt/p && echo MOUNTED; mount -o bind / /mnt/p && echo MOUNTED; true"),
    )
    .await;
    assert_eq!(code, 0);
    assert!(!out.stdout.contains("MOUNTED"), "{out:?}");
    sb.assert_clean();
}
