//! Isolation options observed from inside containers: `--ipc shareable` +
//! `--ipc container:` (same namespace, same /dev/shm), `--ipc host`, `--pid container:` and
//! `--pid host`, `--uts host`, `--device` (node and device-cgroup access), the device cgroup
//! without it, `--cap-add`/`--cap-drop`, `--privileged`, `--cpuset-cpus`.

mod runtime_support;

use runtime_support::Rt;

/// `kiln run --rm --network none ARGS…` and its stdout (must succeed).
fn run(rt: &Rt, args: &[&str]) -> String {
    let mut a = vec!["run", "--rm", "--network", "none"];
    a.extend_from_slice(args);
    rt.ok(&a)
}

fn cap_eff(status: &str) -> u64 {
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .unwrap_or_else(|| panic!("no CapEff in {status}"));
    u64::from_str_radix(hex.trim(), 16).unwrap()
}

#[test]
fn ipc_and_pid_namespaces_shared_between_containers() {
    let rt = Rt::new();
    rt.ok(&[
        "run",
        "-d",
        "--name",
        "donor",
        "--ipc",
        "shareable",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo from-donor > /dev/shm/f; readlink /proc/self/ns/ipc; exec sleep 600",
    ]);
    rt.eventually("donor to start", || {
        rt.ok(&["logs", "donor"]).contains("ipc:")
    });
    let donor_ns = rt.ok(&["logs", "donor"]).trim().to_string();

    let out = run(
        &rt,
        &[
            "--ipc",
            "container:donor",
            "busybox",
            "sh",
            "-c",
            "cat /dev/shm/f; readlink /proc/self/ns/ipc; echo mine > /dev/shm/g",
        ],
    );
    assert_eq!(out, format!("from-donor\n{donor_ns}\n"));
    // Writes go both ways: the donor sees the joiner's file.
    let seen = rt.ok(&["exec", "donor", "cat", "/dev/shm/g"]);
    assert_eq!(seen, "mine\n");
    // A private container has neither.
    let out = run(
        &rt,
        &[
            "busybox",
            "sh",
            "-c",
            "readlink /proc/self/ns/ipc; ls /dev/shm",
        ],
    );
    assert_ne!(out.lines().next(), Some(donor_ns.as_str()));
    assert_eq!(out.lines().count(), 1, "{out}");

    // Only a shareable donor may be joined.
    rt.ok(&[
        "run",
        "-d",
        "--name",
        "private",
        "--network",
        "none",
        "busybox",
        "sleep",
        "600",
    ]);
    let (code, err) = rt.fails(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--ipc",
        "container:private",
        "busybox",
        "true",
    ]);
    assert_eq!(code, 125);
    assert!(err.contains("not shareable"), "{err}");

    // --pid container: the donor's processes are visible (its sleep is pid 1 there).
    let ps = run(
        &rt,
        &[
            "--pid",
            "container:donor",
            "busybox",
            "ps",
            "-o",
            "pid,args",
        ],
    );
    assert!(
        ps.lines()
            .any(|l| l.trim_start().starts_with("1 ") && l.contains("sleep 600")),
        "{ps}"
    );
    // kill and exec reach a container whose init is not pid 1 of its namespace.
    let id = rt
        .ok(&[
            "run",
            "-d",
            "--pid",
            "container:donor",
            "--network",
            "none",
            "busybox",
            "sleep",
            "600",
        ])
        .trim()
        .to_string();
    assert_eq!(rt.ok(&["exec", &id, "echo", "in"]), "in\n");
    rt.ok(&["stop", "-t", "5", &id]);
    // Not pid 1 of its namespace, so SIGTERM's default action ends it at once.
    let status = rt.field(&id, "{{.Status}}");
    assert!(status.starts_with("Exited (143)"), "{status}");

    let (code, err) = rt.fails(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--pid",
        "container:nosuch",
        "busybox",
        "true",
    ]);
    assert_eq!(code, 125, "{err}");
}

#[test]
fn host_namespaces() {
    let rt = Rt::new();
    let me = std::process::id();
    // --pid host: this test process is visible; privately it is not.
    let probe = format!("test -d /proc/{me} && echo visible || echo hidden");
    assert_eq!(
        run(&rt, &["--pid", "host", "busybox", "sh", "-c", &probe]),
        "visible\n"
    );
    assert_eq!(run(&rt, &["busybox", "sh", "-c", &probe]), "hidden\n");
    // --ipc host: the host's IPC namespace.
    let host_ipc = std::fs::read_link("/proc/self/ns/ipc").unwrap();
    let inside = run(
        &rt,
        &["--ipc", "host", "busybox", "readlink", "/proc/self/ns/ipc"],
    );
    assert_eq!(inside.trim(), host_ipc.to_string_lossy());
    // --uts host: the host's name, and the host keeps it.
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let inside = run(&rt, &["--uts", "host", "busybox", "hostname"]);
    assert_eq!(inside.trim(), host_name.trim());
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        host_name
    );
    // inspect shows the modes as Docker's HostConfig does.
    let id = rt
        .ok(&[
            "create",
            "--ipc",
            "shareable",
            "--pid",
            "host",
            "--uts",
            "host",
            "busybox",
            "true",
        ])
        .trim()
        .to_string();
    let modes = rt.ok(&[
        "container",
        "inspect",
        "-f",
        "{{.HostConfig.IpcMode}} {{.HostConfig.PidMode}} {{.HostConfig.UTSMode}}",
        &id,
    ]);
    assert_eq!(modes.trim(), "shareable host host");
    let (_, err) = rt.fails(&["create", "--uts", "container:x", "busybox"]);
    assert!(err.contains("invalid --uts"), "{err}");
}

#[test]
fn devices_capabilities_privileged_and_cpuset() {
    let rt = Rt::new();
    // --device with read-only access: the node exists, writing is refused by the device
    // cgroup (kmsg: 1:11, not among the default devices).
    let out = run(
        &rt,
        &[
            "--device",
            "/dev/kmsg:/dev/klog:r",
            "busybox",
            "sh",
            "-c",
            "stat -c '%F %t:%T' /dev/klog; echo x > /dev/klog && echo wrote || echo refused",
        ],
    );
    assert_eq!(out, "character special file 1:b\nrefused\n");
    // Without --device, CAP_MKNOD makes the node but the device cgroup refuses opening it.
    let out = run(
        &rt,
        &[
            "busybox",
            "sh",
            "-c",
            "mknod /tmp/k c 1 11 && echo made; echo x > /tmp/k && echo wrote || echo refused",
        ],
    );
    assert_eq!(out, "made\nrefused\n");
    let (_, err) = rt.fails(&["create", "--device", "dev/kmsg", "busybox"]);
    assert!(err.contains("invalid device"), "{err}");

    const CHOWN: u64 = 1 << 0;
    const NET_ADMIN: u64 = 1 << 12;
    let status = run(&rt, &["busybox", "cat", "/proc/self/status"]);
    let default = cap_eff(&status);
    assert!(default & CHOWN != 0 && default & NET_ADMIN == 0);
    let status = run(
        &rt,
        &[
            "--cap-add",
            "net_admin",
            "--cap-drop",
            "CAP_CHOWN",
            "busybox",
            "cat",
            "/proc/self/status",
        ],
    );
    assert_eq!(cap_eff(&status), (default | NET_ADMIN) & !CHOWN);
    // exec'ed processes get the container's capabilities, not the defaults.
    let id = rt
        .ok(&[
            "run",
            "-d",
            "--network",
            "none",
            "--cap-add",
            "NET_ADMIN",
            "--cap-drop",
            "chown",
            "busybox",
            "sleep",
            "600",
        ])
        .trim()
        .to_string();
    let status = rt.ok(&["exec", &id, "cat", "/proc/self/status"]);
    assert_eq!(cap_eff(&status), (default | NET_ADMIN) & !CHOWN);
    let status = run(
        &rt,
        &["--cap-drop", "ALL", "busybox", "cat", "/proc/self/status"],
    );
    assert_eq!(cap_eff(&status), 0);
    let (_, err) = rt.fails(&["create", "--cap-add", "NOPE", "busybox"]);
    assert!(err.contains("unknown capability"), "{err}");

    // --privileged: every capability kiln holds, no seccomp filter, /sys writable, host
    // devices present.
    let ours = cap_eff(&std::fs::read_to_string("/proc/self/status").unwrap());
    let out = run(
        &rt,
        &[
            "--privileged",
            "busybox",
            "sh",
            "-c",
            "cat /proc/self/status; grep ' /sys ' /proc/mounts; test -c /dev/kmsg && echo kmsg",
        ],
    );
    assert_eq!(cap_eff(&out), ours);
    assert!(out.contains("Seccomp:\t0"), "{out}");
    assert!(out.contains("sysfs /sys sysfs rw"), "{out}");
    assert!(out.contains("kmsg"), "{out}");

    // --cpuset-cpus: the scheduler's view inside.
    let out = run(
        &rt,
        &[
            "--cpuset-cpus",
            "0",
            "busybox",
            "grep",
            "Cpus_allowed_list",
            "/proc/self/status",
        ],
    );
    assert_eq!(out.split_whitespace().last(), Some("0"));
}
