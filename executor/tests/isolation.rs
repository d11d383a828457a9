//! The isolation options of a spec, natively and through runc's bundle: host PID and UTS
//! namespaces, capabilities, devices (node and device cgroup), privileged mode, cpuset and
//! the /dev/shm size.

mod common;
use common::*;
use kiln_executor::*;

const RUNTIMES: [&str; 2] = ["native", "runc"];

async fn stdout(runtime: &str, sb: &Sandbox, spec: &ContainerSpec) -> String {
    let (result, out) = run(&sb.executor(runtime), spec).await;
    let outcome = result.unwrap_or_else(|e| panic!("{runtime}: {e}"));
    assert_eq!(outcome.exit_code(), 0, "{runtime}: {out:?}");
    sb.assert_clean();
    out.stdout
}

fn cap_eff(status: &str) -> u64 {
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .expect("CapEff line");
    u64::from_str_radix(hex.trim(), 16).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_namespaces_and_limits() {
    busybox();
    let me = std::process::id();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    for rt in RUNTIMES {
        let sb = Sandbox::new(&format!("ns-{rt}"));
        let mut spec = sb.sh(&format!(
            "test -d /proc/{me} && echo pid-host; hostname; \
             grep Cpus_allowed_list /proc/self/status | cut -f2; df -k /dev/shm | tail -1"
        ));
        spec.namespaces.pid = NamespaceMode::Host;
        spec.namespaces.uts = NamespaceMode::Host;
        spec.limits.cpuset_cpus = Some("0".into());
        spec.shm_size = Some(8 << 20);
        let out = stdout(rt, &sb, &spec).await;
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[..3], ["pid-host", host.trim(), "0"], "{rt}: {out}");
        assert!(
            lines[3].split_whitespace().nth(1) == Some("8192"),
            "{rt}: {out}"
        );
        assert_eq!(
            std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
            host
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capabilities_devices_and_privileged() {
    busybox();
    for rt in RUNTIMES {
        let sb = Sandbox::new(&format!("caps-{rt}"));
        let mut spec = sb.sh("cat /proc/self/status; test -c /dev/klog && echo node; \
             (echo x > /dev/klog) 2>/dev/null && echo wrote || echo refused");
        spec.capabilities =
            Some(capabilities_with(&["NET_ADMIN".into()], &["CHOWN".into()]).unwrap());
        spec.devices = vec![Device::parse("/dev/kmsg:/dev/klog:r").unwrap()];
        let out = stdout(rt, &sb, &spec).await;
        let caps = cap_eff(&out);
        assert!(caps & (1 << 12) != 0 && caps & 1 == 0, "{rt}: {caps:x}");
        assert!(out.contains("node\nrefused\n"), "{rt}: {out}");

        let sb = Sandbox::new(&format!("priv-{rt}"));
        let mut spec = sb.sh("cat /proc/self/status; test -c /dev/kmsg && echo kmsg");
        spec.privileged = true;
        let out = stdout(rt, &sb, &spec).await;
        assert!(out.contains("Seccomp:\t0"), "{rt}: {out}");
        assert!(out.contains("kmsg"), "{rt}: {out}");
        let ours = cap_eff(&std::fs::read_to_string("/proc/self/status").unwrap());
        assert_eq!(cap_eff(&out), ours, "{rt}");
    }
}
