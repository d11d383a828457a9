//! Test fixtures: uniquely named network namespaces, a manager with its own bridge names,
//! subnet and nftables table, servers running inside a namespace (`servers`), and leak
//! checks. Every
//! fixture undoes itself in Drop, so a failing assertion still cleans up.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use kiln_network::{
    AttachRequest, Attachment, CreateNetwork, ManagerConfig, Network, NetworkManager,
};

mod servers;
#[allow(unused_imports)] // Not every test binary uses the servers.
pub use servers::*;

static COUNTER: AtomicUsize = AtomicUsize::new(0);
/// Tests that create host resources hold it shared; the whole-host snapshot test holds it
/// exclusively so that it sees only its own changes.
static HOST: RwLock<()> = RwLock::new(());

pub fn shared_host() -> RwLockReadGuard<'static, ()> {
    HOST.read().unwrap_or_else(|e| e.into_inner())
}

pub fn exclusive_host() -> RwLockWriteGuard<'static, ()> {
    HOST.write().unwrap_or_else(|e| e.into_inner())
}

/// A name unique to this process and call, at most 12 characters, so suffixes still fit
/// an interface name: `kt<pid>x<n>_` (the `_` keeps `..x1_` from being a prefix of `..x10_`).
pub fn unique() -> String {
    format!(
        "kt{}x{}_",
        std::process::id() % 100_000,
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

pub fn run(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"))
}

fn lines(cmd: &str, args: &[&str]) -> Vec<String> {
    let out = run(cmd, args);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

pub fn link_names() -> BTreeSet<String> {
    lines("ip", &["-o", "link", "show"])
        .iter()
        .filter_map(|l| {
            l.split(':')
                .nth(1)
                .map(|n| n.trim().split('@').next().unwrap_or("").to_string())
        })
        .collect()
}

pub fn netns_names() -> BTreeSet<String> {
    lines("ip", &["netns", "list"])
        .iter()
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect()
}

pub fn nft_ruleset() -> String {
    // Stateless (`-s`): without counter values, which other software's rules on the host
    // (podman's, docker's) change while the test runs.
    String::from_utf8_lossy(&run("nft", &["-s", "list", "ruleset"]).stdout).to_string()
}

/// The host's links, named namespaces and nftables ruleset.
#[derive(Debug, PartialEq, Eq)]
pub struct HostSnapshot {
    pub links: BTreeSet<String>,
    pub netns: BTreeSet<String>,
    pub nft: String,
}

impl HostSnapshot {
    pub fn take() -> HostSnapshot {
        HostSnapshot {
            links: link_names(),
            netns: netns_names(),
            nft: nft_ruleset(),
        }
    }

    /// Panics with the differences when the host is not as it was.
    pub fn assert_unchanged(&self) {
        let now = HostSnapshot::take();
        assert_eq!(now.links, self.links, "links differ from before the test");
        assert_eq!(
            now.netns, self.netns,
            "network namespaces differ from before the test"
        );
        assert_eq!(
            now.nft, self.nft,
            "nftables ruleset differs from before the test"
        );
    }
}

/// Asserts on drop (unless already panicking) that nothing named with `prefix` and none
/// of `veths` is left: links, namespaces, nftables tables, /etc/netns entries.
pub struct LeakCheck {
    pub prefix: String,
    pub veths: Arc<std::sync::Mutex<Vec<String>>>,
}

impl LeakCheck {
    pub fn new(prefix: &str) -> LeakCheck {
        LeakCheck {
            prefix: prefix.to_string(),
            veths: Arc::default(),
        }
    }
}

impl Drop for LeakCheck {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let p = &self.prefix;
        let veths = self.veths.lock().map(|v| v.clone()).unwrap_or_default();
        let links: Vec<String> = link_names()
            .into_iter()
            .filter(|l| l.starts_with(p) || veths.contains(l))
            .collect();
        assert!(links.is_empty(), "leftover links: {links:?}");
        let ns: Vec<String> = netns_names()
            .into_iter()
            .filter(|n| n.starts_with(p))
            .collect();
        assert!(ns.is_empty(), "leftover netns: {ns:?}");
        let nft = nft_ruleset();
        assert!(
            !nft.contains(&format!("table inet {p} "))
                && !nft.contains(&format!("table bridge {p} ")),
            "leftover nftables table {p}"
        );
        assert!(!Path::new(&format!("/etc/netns/{p}")).exists());
    }
}

/// A named network namespace (`ip netns add`) standing in for a container, with lo down
/// as a fresh namespace has it.
pub struct Netns {
    pub name: String,
    pub path: PathBuf,
}

impl Netns {
    pub fn new(name: &str) -> Netns {
        let out = run("ip", &["netns", "add", name]);
        assert!(
            out.status.success(),
            "ip netns add {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Netns {
            name: name.to_string(),
            path: PathBuf::from(format!("/run/netns/{name}")),
        }
    }

    /// A hosts file that `ip netns exec` bind-mounts over /etc/hosts for commands it runs.
    pub fn hosts_file(&self) -> PathBuf {
        let dir = PathBuf::from(format!("/etc/netns/{}", self.name));
        // Another test's Drop may remove an empty /etc/netns between our two mkdirs.
        let mut tries = 0;
        while let Err(e) = std::fs::create_dir_all(&dir) {
            tries += 1;
            assert!(tries < 5, "create {}: {e}", dir.display());
        }
        dir.join("hosts")
    }

    /// Runs busybox inside the namespace.
    pub fn busybox(&self, args: &[&str]) -> Output {
        let mut full = vec!["netns", "exec", &self.name, "busybox"];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    /// One ICMP echo to `target` (address or name) with a one-second timeout.
    pub fn ping(&self, target: &str) -> bool {
        self.busybox(&["ping", "-c1", "-W1", target])
            .status
            .success()
    }

    pub fn ip(&self, args: &[&str]) -> String {
        let mut full = vec!["-n", &self.name];
        full.extend_from_slice(args);
        String::from_utf8_lossy(&run("ip", &full).stdout).to_string()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run("ip", &["netns", "del", &self.name]);
        let _ = std::fs::remove_dir_all(format!("/etc/netns/{}", self.name));
        let _ = std::fs::remove_dir("/etc/netns");
    }
}

/// A manager on a temporary root whose names all start with `prefix`; Drop detaches
/// every container, removes every network and kiln's tables.
pub struct Env {
    pub prefix: String,
    pub dir: tempfile::TempDir,
    pub mgr: NetworkManager,
    pub veths: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Env {
    pub fn new(leak: &LeakCheck, default_subnet: &str) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let mgr = NetworkManager::open(config(dir.path(), &leak.prefix, default_subnet))
            .expect("open manager");
        Env {
            prefix: leak.prefix.clone(),
            dir,
            mgr,
            veths: leak.veths.clone(),
        }
    }

    pub fn network(
        &self,
        suffix: &str,
        subnet: &str,
        f: impl FnOnce(&mut CreateNetwork),
    ) -> Network {
        let mut req = CreateNetwork::new(format!("{}{suffix}", self.prefix));
        req.bridge = Some(format!("{}{suffix}", self.prefix));
        req.subnet = Some(subnet.parse().expect("subnet"));
        f(&mut req);
        self.mgr.create(&req).expect("create network")
    }

    pub fn attach(
        &self,
        ns: &Netns,
        network: &str,
        f: impl FnOnce(&mut AttachRequest),
    ) -> Attachment {
        let mut req = AttachRequest {
            container_id: format!("{:0<64}", hex_of(&ns.name)),
            container_name: ns.name.clone(),
            hostname: ns.name.clone(),
            netns: ns.path.clone(),
            network: network.to_string(),
            ..Default::default()
        };
        f(&mut req);
        let a = self.mgr.attach(&req).expect("attach");
        self.veths
            .lock()
            .expect("veths")
            .push(a.endpoint.host_veth.clone());
        a
    }
}

pub fn config(root: &Path, prefix: &str, default_subnet: &str) -> ManagerConfig {
    let mut c = ManagerConfig::new(root);
    c.default_bridge = format!("{prefix}d");
    c.default_subnet = Some(default_subnet.parse().expect("subnet"));
    c.firewall_table = prefix.to_string();
    // Forwarding stays as the host has it; the isolation test turns it on in a sandbox.
    c.ip_forward = false;
    c
}

/// A container id derived from a name (hex, so it looks like one).
pub fn hex_of(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

impl Drop for Env {
    fn drop(&mut self) {
        // Clean up through the API; whatever that misses is removed by force, and the
        // miss fails the test (unless it is already failing).
        let mut errors = Vec::new();
        match self.mgr.list() {
            Ok(nets) => {
                for n in nets {
                    for id in n.endpoints.keys() {
                        if let Err(e) = self.mgr.detach_all(id) {
                            errors.push(format!("detach {id}: {e}"));
                        }
                    }
                    if let Err(e) = self.mgr.remove(&n.name) {
                        errors.push(format!("remove {}: {e}", n.name));
                    }
                }
            }
            Err(e) => errors.push(format!("list: {e}")),
        }
        if let Err(e) = self.mgr.firewall().remove() {
            errors.push(format!("firewall: {e}"));
        }
        let veths = self.veths.lock().map(|v| v.clone()).unwrap_or_default();
        for l in link_names() {
            if l.starts_with(&self.prefix) || veths.contains(&l) {
                let _ = run("ip", &["link", "del", &l]);
            }
        }
        if !errors.is_empty() && !std::thread::panicking() {
            panic!("cleanup through the API failed: {errors:?}");
        }
    }
}
