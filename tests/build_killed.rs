//! A build killed outright (SIGKILL: no destructor runs) leaves its step directory and the
//! mounts it made in the host's namespace — here a RUN step's secrets tmpfs — and possibly
//! its container's state and cgroups. The next build on the store removes them first.

mod build_support;

use build_support::{write, Kiln};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Mount points under `dir` in this (the host's) mount namespace.
fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = format!("{}/", dir.display());
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}

/// Kills the build and detaches whatever a failed assertion would leave mounted.
struct Guard<'a> {
    child: Child,
    root: &'a Path,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for m in mounts_under(self.root).iter().rev() {
            let _ = std::process::Command::new("umount")
                .args(["-l", m])
                .status();
        }
    }
}

#[test]
fn a_killed_builds_mounts_and_step_dirs_are_reclaimed_by_the_next_build() {
    let k = Kiln::with_busybox();
    let ctx = k.path("ctx");
    write(
        &ctx,
        "Dockerfile",
        "FROM busybox\nRUN --mount=type=secret,id=tok cat /run/secrets/tok && sleep 300\n",
    );
    let secret = k.path("tok.txt");
    std::fs::write(&secret, "hunter2").unwrap();
    let child = k
        .cmd(&[
            "build",
            "--progress",
            "plain",
            "--secret",
            &format!("id=tok,src={}", secret.display()),
            ctx.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut g = Guard {
        child,
        root: &k.root,
    };
    let tmp = k.root.join("build-tmp");
    let deadline = Instant::now() + Duration::from_secs(120);
    while mounts_under(&tmp).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the RUN step never mounted its secret"
        );
        if let Ok(Some(st)) = g.child.try_wait() {
            panic!("the build ended early: {st}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    g.child.kill().unwrap();
    g.child.wait().unwrap();
    // What the kill left: the secrets tmpfs and the step directory.
    let left = mounts_under(&tmp);
    assert!(left.iter().any(|m| m.ends_with("/secrets")), "{left:?}");

    write(&ctx, "Dockerfile", "FROM busybox\nRUN echo next > /next\n");
    k.build(&[ctx.to_str().unwrap()]);
    assert!(
        mounts_under(&k.root).is_empty(),
        "{:?}",
        mounts_under(&k.root)
    );
    let steps: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("step-"))
        .collect();
    assert!(steps.is_empty(), "step directories left: {steps:?}");
    // Nor is any container state of the killed step's (the executor's reclaim).
    let states: Vec<_> = std::fs::read_dir(k.root.join("exec"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(states.is_empty(), "container state left: {states:?}");
}
