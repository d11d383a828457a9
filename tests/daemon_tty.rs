//! `kiln run -it` through the daemon from a real terminal: what is typed reaches the
//! container's shell, its answers come back, a resize of the client's terminal reaches
//! the container, and the client exits with the container's code.

mod build_support;
mod daemon_support;

use std::time::{Duration, Instant};

use build_support::Kiln;
use daemon_support::pty::Pty;
use daemon_support::Daemon;

#[test]
fn run_it_through_the_daemon_types_reads_resizes_and_exits() {
    let k = Kiln::with_busybox();
    let d = Daemon::start(&k.root, k.tmp.path(), &[]);
    let mut t = Pty::spawn(d.cmd(&["run", "-it", "--rm", "--network", "none", "busybox", "sh"]));
    t.expect("# ");
    // The command line echoes as hel''lo; only the shell's output reads hello.
    t.send(b"echo hel''lo\r");
    t.expect("hello\r\n");
    t.send(b"stty size\r");
    t.expect("24 80");
    t.resize(33, 111);
    // The resize travels client -> daemon -> kiln run -> container asynchronously.
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        t.send(b"stty size\r");
        if t.expect("# ").contains("33 111") {
            break;
        }
        assert!(
            Instant::now() < until,
            "the resize never reached the container"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    t.send(b"exit 7\r");
    assert_eq!(t.wait(), 7, "the client exits with the container's code");
    // --rm: nothing left behind in the daemon's store.
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "");
}
