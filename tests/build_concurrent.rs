//! Several kiln processes building into one store at once (as CI jobs sharing a machine
//! do): all succeed, and each result runs.

mod build_support;

use build_support::{testdata, Kiln};

#[test]
fn concurrent_builds_share_one_store() {
    let k = Kiln::with_busybox();
    let ctx = testdata("build/run");
    let children: Vec<_> = (0..3)
        .map(|i| {
            k.cmd(&["build", "-q", "-t", &format!("c{i}"), ctx.to_str().unwrap()])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for i in 0..3 {
        assert_eq!(
            k.sh(&format!("c{i}"), "cat /work/dir/shell.txt"),
            "hi world\n"
        );
    }
    let leftovers = std::fs::read_dir(k.root.join("build-tmp")).unwrap().count();
    assert_eq!(leftovers, 0);
}
