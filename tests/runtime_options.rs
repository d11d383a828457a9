//! Container options beyond the basics: --mount, --tmpfs, --volumes-from, --env-file,
//! --cidfile, --ulimit, --cpus, --security-opt, --hostname, --read-only, --init.

mod runtime_support;

use runtime_support::Rt;

fn output_of(rt: &Rt, args: &[&str]) -> String {
    let id = rt.detached(args);
    assert_eq!(
        rt.ok(&["wait", &id]).trim(),
        "0",
        "{}",
        rt.ok(&["logs", &id])
    );
    rt.ok(&["logs", &id])
}

#[test]
fn mounts_tmpfs_and_volumes_from() {
    let rt = Rt::new();
    let host = rt.k.path("m");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("f"), "bound").unwrap();
    let bind = format!("type=bind,source={},target=/m,readonly", host.display());
    let out = output_of(
        &rt,
        &[
            "--mount",
            &bind,
            "--mount",
            "type=volume,source=mv,target=/v",
            "--tmpfs",
            "/scratch:size=1m",
            "--name",
            "src",
            "busybox",
            "sh",
            "-c",
            "cat /m/f; echo; touch /m/x 2>/dev/null || echo ro; echo vol > /v/f; \
             grep ' /scratch ' /proc/mounts | cut -d' ' -f3",
        ],
    );
    assert_eq!(out, "bound\nro\ntmpfs\n");
    // --volumes-from gets the bind and the volume (not the tmpfs), read-only with :ro.
    let out = output_of(
        &rt,
        &[
            "--volumes-from",
            "src:ro",
            "busybox",
            "sh",
            "-c",
            "cat /v/f; touch /v/y 2>/dev/null || echo ro; test -d /scratch || echo no-tmpfs",
        ],
    );
    assert_eq!(out, "vol\nro\nno-tmpfs\n");
    let (_, err) = rt.fails(&["create", "--mount", "type=bind,target=/x", "busybox"]);
    assert!(err.contains("needs source"), "{err}");
    let (_, err) = rt.fails(&["create", "--mount", "type=nfs,target=/x", "busybox"]);
    assert!(err.contains("type must be"), "{err}");
}

#[test]
fn env_file_cidfile_limits_and_security() {
    let rt = Rt::new();
    let envf = rt.k.path("env");
    std::fs::write(&envf, "# comment\nA=from-file\nB=file\n").unwrap();
    let cid = rt.k.path("cid");
    let id = rt
        .ok(&[
            "create",
            "--env-file",
            envf.to_str().unwrap(),
            "-e",
            "B=flag",
            "--cidfile",
            cid.to_str().unwrap(),
            "--ulimit",
            "nofile=123:456",
            "--cpus",
            "0.5",
            "--security-opt",
            "no-new-privileges",
            "--hostname",
            "box",
            "--read-only",
            "busybox",
            "sh",
            "-c",
            "echo $A $B; ulimit -n; hostname; grep NoNewPrivs /proc/self/status | tr -d '\\t'; \
             touch /x 2>/dev/null || echo read-only",
        ])
        .trim()
        .to_string();
    assert_eq!(std::fs::read_to_string(&cid).unwrap(), id);
    let (_, err) = rt.fails(&["create", "--cidfile", cid.to_str().unwrap(), "busybox"]);
    assert!(err.contains("already exists"), "{err}");
    rt.ok(&["start", &id]);
    assert_eq!(rt.ok(&["wait", &id]).trim(), "0");
    assert_eq!(
        rt.ok(&["logs", &id]),
        "from-file flag\n123\nbox\nNoNewPrivs:1\nread-only\n"
    );
    let (_, err) = rt.fails(&["create", "--ulimit", "nofile=x", "busybox"]);
    assert!(err.contains("invalid --ulimit"), "{err}");
    let (_, err) = rt.fails(&["create", "--security-opt", "label=x", "busybox"]);
    assert!(err.contains("--security-opt"), "{err}");
    // --shm-size and --add-host.
    let out = output_of(
        &rt,
        &[
            "--shm-size",
            "2m",
            "--add-host",
            "db.local:10.1.2.3",
            "busybox",
            "sh",
            "-c",
            "df -k /dev/shm | tail -1 | awk '{print $2}'; grep db.local /etc/hosts",
        ],
    );
    assert_eq!(out, "2048\n10.1.2.3\tdb.local\n");
    // --init: pid 1 is the init, the command runs under it.
    let out = output_of(&rt, &["--init", "busybox", "sh", "-c", "echo $$"]);
    assert_ne!(out, "1\n");
}
