//! Helpers for the runtime tests: a temp store with busybox loaded, `kiln` against it, and a
//! guard that removes every container (killing monitors) and volume of the store when
//! dropped, also when the test failed.
#![allow(dead_code)]

#[path = "../images_support/mod.rs"]
mod images_support;

pub use images_support::Kiln;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

pub struct Rt {
    pub k: Kiln,
}

impl Rt {
    /// A fresh store with busybox:latest.
    pub fn new() -> Rt {
        let k = Kiln::new();
        k.load_busybox();
        Rt { k }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.k.run(args)
    }

    pub fn ok(&self, args: &[&str]) -> String {
        self.k.ok(args)
    }

    /// Run, require failure; returns (exit code, stderr).
    pub fn fails(&self, args: &[&str]) -> (i32, String) {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "kiln {args:?} unexpectedly succeeded:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `kiln create ARGS` + `kiln start`; returns the id.
    pub fn detached(&self, args: &[&str]) -> String {
        let mut a = vec!["create"];
        a.extend_from_slice(args);
        let id = self.ok(&a).trim().to_string();
        self.ok(&["start", &id]);
        id
    }

    /// `ps -a --format` of one container.
    pub fn field(&self, id: &str, tpl: &str) -> String {
        self.ok(&[
            "ps",
            "-a",
            "--no-trunc",
            "--filter",
            &format!("id={id}"),
            "--format",
            tpl,
        ])
        .trim()
        .to_string()
    }

    /// `ps -a --format '{{.Status}}'` of the container named `name`.
    pub fn field_by_name(&self, name: &str) -> String {
        self.ok(&[
            "ps",
            "-a",
            "--filter",
            &format!("name={name}"),
            "--format",
            "{{.Names}} {{.Status}}",
        ])
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")).map(str::to_string))
        .unwrap_or_default()
    }

    /// Polls `cond` (every 20 ms, up to 30 s: a correctness bound, not a speed goal).
    pub fn eventually(&self, what: &str, mut cond: impl FnMut() -> bool) {
        let until = Instant::now() + Duration::from_secs(30);
        while !cond() {
            assert!(Instant::now() < until, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn root(&self) -> &Path {
        &self.k.root
    }

    /// Processes whose command line mentions this store (monitors carry its path).
    pub fn store_processes(&self) -> Vec<i32> {
        let needle = self.k.root.to_string_lossy().into_owned();
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if pid == std::process::id() as i32 {
                continue;
            }
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmd).contains(&needle) {
                out.push(pid);
            }
        }
        out
    }

    /// Mounts whose source or target mentions this store.
    pub fn store_mounts(&self) -> Vec<String> {
        let needle = self.k.root.to_string_lossy().into_owned();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter(|l| l.contains(&needle))
            .map(str::to_string)
            .collect()
    }

    /// Filesystem mounts under the store: `store_mounts` without the network namespaces
    /// that running containers pin there (nsfs), which are theirs and expected.
    pub fn fs_mounts(&self) -> Vec<String> {
        self.store_mounts()
            .into_iter()
            .filter(|l| !l.contains(" - nsfs "))
            .collect()
    }

    /// Container cgroup directories (`kiln-<id>`) of `ids` anywhere under /sys/fs/cgroup.
    pub fn cgroups_of(ids: &[String]) -> Vec<String> {
        let mut found = Vec::new();
        let mut stack = vec![std::path::PathBuf::from("/sys/fs/cgroup")];
        while let Some(dir) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in rd.flatten() {
                let Ok(ft) = e.file_type() else { continue };
                if !ft.is_dir() {
                    continue;
                }
                let name = e.file_name().to_string_lossy().into_owned();
                if ids.iter().any(|id| name == format!("kiln-{id}")) {
                    found.push(e.path().display().to_string());
                }
                stack.push(e.path());
            }
        }
        found
    }

    pub fn stdin_null(&self, args: &[&str]) -> std::process::Command {
        let mut c = self.k.cmd(args);
        c.stdin(Stdio::null());
        c
    }
}

impl Drop for Rt {
    fn drop(&mut self) {
        let ids = self.k.run(&["ps", "-aq", "--no-trunc"]).stdout;
        for id in String::from_utf8_lossy(&ids).split_whitespace() {
            let _ = self.k.run(&["rm", "-f", "-v", id]);
        }
        let _ = self.k.run(&["volume", "prune", "-f", "-a"]);
        // The store's networks go when `self.k` drops (kiln_support::remove_networks).
        // Last resort if kiln itself failed: no monitor of this store may outlive the test.
        for pid in self.store_processes() {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
        }
    }
}

/// (action, actor id, name attribute) of the image events of `kiln events` from `since`
/// until now, with `extra` arguments (e.g. a filter); a missing attribute reads as "".
pub fn image_events(rt: &Rt, since: &str, extra: &[&str]) -> Vec<(String, String, String)> {
    let until = unix_now();
    let mut args = vec![
        "events",
        "--since",
        since,
        "--until",
        &until,
        "--filter",
        "type=image",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    rt.ok(&args)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["Type"], "image", "{l}");
            let s = |x: &serde_json::Value| x.as_str().unwrap_or_default().to_string();
            (
                s(&v["Action"]),
                s(&v["Actor"]["ID"]),
                s(&v["Actor"]["Attributes"]["name"]),
            )
        })
        .collect()
}

/// Now as unix seconds with a fraction, a form `--since`/`--until` accept.
pub fn unix_now() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}
