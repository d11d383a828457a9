//! `--host tcp://...` with mutual TLS: a client with a certificate from the daemon's CA
//! works; one without TLS, or with another CA's certificate, is turned away. Plain TCP is
//! refused off loopback and allowed on loopback with a warning. Certificates are made
//! here (rcgen).

mod build_support;
mod daemon_support;

use std::path::Path;
use std::time::{Duration, Instant};

use build_support::Kiln;
use daemon_support::certs::{ca, free_port, leaf, tls_args};
use daemon_support::{kiln, Daemon};

#[test]
fn mutual_tls_admits_only_clients_of_the_ca() {
    let k = Kiln::with_busybox();
    let dir = k.tmp.path();
    let good = ca("kiln test CA");
    let ca_pem = dir.join("ca.pem");
    std::fs::write(&ca_pem, good.cert.pem()).unwrap();
    let (scert, skey) = leaf(dir, &good, "server", true);
    let (ccert, ckey) = leaf(dir, &good, "client", false);
    let rogue = ca("another CA");
    let (rcert, rkey) = leaf(dir, &rogue, "rogue", false);

    let host = format!("tcp://127.0.0.1:{}", free_port());
    // Global flags may follow the subcommand: the daemon's TLS files.
    let d = Daemon::start_on(
        &k.root,
        dir,
        &host,
        dir.join("unused.sock"),
        &tls_args(&ca_pem, &scert, &skey),
    );
    let client = |cert: &Path, key: &Path, args: &[&str]| {
        kiln()
            .args(["--host", &host])
            .args(tls_args(&ca_pem, cert, key))
            .args(args)
            .output()
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = client(&ccert, &ckey, &["images"]);
        if out.status.success() {
            assert!(String::from_utf8_lossy(&out.stdout).contains("busybox"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no TLS answer: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Builds travel over TLS too.
    let ctx = k.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nRUN echo tls > /t\n").unwrap();
    let out = client(&ccert, &ckey, &["build", "-q", ctx.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Another CA's client, and a client without TLS, are turned away.
    let out = client(&rcert, &rkey, &["images"]);
    assert_eq!(out.status.code(), Some(125));
    let out = kiln().args(["--host", &host, "images"]).output().unwrap();
    assert_eq!(out.status.code(), Some(125));
    // --tlsverify without its files is a usage error.
    let out = kiln()
        .args(["--host", &host, "--tlsverify", "images"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tlscacert"));
}

#[test]
fn plain_tcp_only_on_loopback() {
    let k = Kiln::with_busybox();
    let dir = k.tmp.path();
    let out = kiln()
        .arg("--root")
        .arg(&k.root)
        .args([
            "--host",
            &format!("tcp://0.0.0.0:{}", free_port()),
            "daemon",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing plain TCP"));
    let host = format!("tcp://127.0.0.1:{}", free_port());
    let d = Daemon::start_on(&k.root, dir, &host, dir.join("unused.sock"), &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = d.run(&["images"]);
        if out.status.success() {
            break;
        }
        assert!(Instant::now() < deadline, "{}", d.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(d.log_text().contains("without TLS"), "{}", d.log_text());
}
