//! The native container's init joins its v1 cgroups through the `tasks` files (moving just
//! its one thread, which spares the kernel's global lock and an RCU grace period per
//! start). These tests pin what must not change with that: the process runs in all its
//! cgroups from its first instruction, with its cgroup namespace rooted there, also when
//! many containers start at once.

mod common;
use common::*;

/// The cgroup paths the container sees for the hierarchies it is placed in.
fn placed_paths(cgroup_file: &str) -> Vec<(String, String)> {
    cgroup_file
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
            ["memory", "cpu", "pids", "devices"]
                .iter()
                .any(|c| ctrls.split(',').any(|x| x == *c))
                .then(|| (ctrls.to_string(), path.to_string()))
        })
        .collect()
}

/// Every joined hierarchy shows the namespace root. A hierarchy the init had not joined
/// (before unsharing its cgroup namespace) would read as `/..` or `/kiln-<id>`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_in_its_cgroups_from_the_first_instruction() {
    busybox();
    let sb = Sandbox::new("cg-first");
    let spec = sb.spec(&["cat", "/proc/self/cgroup"]);
    let (result, out) = run(&sb.native(), &spec).await;
    let outcome = result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outcome.exit_code(), 0, "{out:?}");
    let placed = placed_paths(&out.stdout);
    assert!(
        placed.len() >= 3,
        "memory, cpu and pids hierarchies expected: {}",
        out.stdout
    );
    for (ctrls, path) in &placed {
        assert_eq!(path, "/", "{ctrls} seen as {path}: {}", out.stdout);
    }
    sb.assert_clean();
}

/// Many starts at once, each joining its own cgroups.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_starts_are_each_placed_before_they_run() {
    busybox();
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            tokio::spawn(async move {
                let sb = Sandbox::new(&format!("cg-par{i}"));
                let spec = sb.spec(&["cat", "/proc/self/cgroup"]);
                let (result, out) = run(&sb.native(), &spec).await;
                (sb, result, out)
            })
        })
        .collect();
    for task in tasks {
        let (sb, result, out) = task.await.expect("container task panicked");
        let outcome = result.unwrap_or_else(|e| panic!("{}: {e}", sb.id));
        assert_eq!(outcome.exit_code(), 0, "{}: {out:?}", sb.id);
        let placed = placed_paths(&out.stdout);
        assert!(placed.len() >= 3, "{}: {}", sb.id, out.stdout);
        assert!(
            placed.iter().all(|(_, p)| p == "/"),
            "{}: {}",
            sb.id,
            out.stdout
        );
        sb.assert_clean();
    }
}
