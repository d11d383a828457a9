//! Forwarded command sessions end to end, with the daemon's command binary replaced by
//! `/bin/sh` (the kiln binary's own tests cover kiln commands): stdio, exit codes, stdin's
//! end, and a terminal of the client's size that follows resizes.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kiln_daemon::api::{BuildRequest, CommandRequest, Control, ErrorBody};
use kiln_daemon::backend::{BuildBackend, LineSink, Prepare};
use kiln_daemon::client::Client;
use kiln_daemon::frames::{exit_code, read_frame, write_frame, Kind};
use kiln_daemon::pty::TtySize;
use kiln_daemon::server::{run, DaemonOptions};
use kiln_daemon::Host;
use tokio_util::sync::CancellationToken;

/// These tests run no builds.
struct NoBuilds;

#[async_trait]
impl BuildBackend for NoBuilds {
    type Session = ();

    fn prepare(&self, _: BuildRequest) -> Result<Prepare<()>, ErrorBody> {
        Err(ErrorBody::new("this test daemon runs no builds"))
    }

    async fn solve(
        &self,
        _: (),
        _: std::path::PathBuf,
        _: std::path::PathBuf,
        _: LineSink,
        _: CancellationToken,
    ) -> Control {
        Control::Exit {
            exit_code: 125,
            error: None,
        }
    }
}

async fn start(dir: &Path) -> Client {
    let root = dir.join("root");
    let store = Arc::new(kiln_cache::Store::open(&root).unwrap());
    let sock = dir.join("d.sock");
    let host = Host::Unix(sock.clone());
    let opts = DaemonOptions {
        root,
        host: host.clone(),
        config_path: dir.join("absent.toml"),
        config_optional: true,
        tls: None,
        exe: "/bin/sh".into(),
        store,
    };
    tokio::spawn(async move {
        if let Err(e) = run(opts, NoBuilds).await {
            panic!("daemon: {e}");
        }
    });
    let client = Client::new(host, None).unwrap();
    for _ in 0..200 {
        if client.ping().await.is_ok() {
            return client;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the test daemon did not answer");
}

/// Run `sh -c script` through the daemon; feed `input` frames; collect (stdout, stderr, code).
async fn session(
    client: &Client,
    script: &str,
    tty: Option<TtySize>,
    input: Vec<(Kind, Vec<u8>)>,
) -> (String, String, i32) {
    let io = client.command_stream().await.unwrap();
    let (mut rd, mut wr) = tokio::io::split(io);
    let req = CommandRequest {
        args: vec!["-c".into(), script.into()],
        cwd: "/".into(),
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        tty,
    };
    write_frame(&mut wr, Kind::Request, &serde_json::to_vec(&req).unwrap())
        .await
        .unwrap();
    for (kind, data) in input {
        write_frame(&mut wr, kind, &data).await.unwrap();
    }
    let (mut out, mut err) = (Vec::new(), Vec::new());
    loop {
        match read_frame(&mut rd).await.unwrap() {
            Some((Kind::Stdout, d)) => out.extend(d),
            Some((Kind::Stderr, d)) => err.extend(d),
            Some((Kind::Exit, d)) => {
                return (
                    String::from_utf8_lossy(&out).into_owned(),
                    String::from_utf8_lossy(&err).into_owned(),
                    exit_code(&d).unwrap(),
                )
            }
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipes_terminals_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let client = start(dir.path()).await;

    // Pipes: stdout and stderr apart, stdin until its end, the exit code; the daemon's
    // root and token are set, the client's KILN_HOST is not passed on.
    let (out, err, code) = session(
        &client,
        "cat; echo \"root=$KILN_ROOT token=${#KILN_DAEMON_TOKEN}\"; echo oops >&2; test -t 0 || exit 4",
        None,
        vec![(Kind::Stdin, b"piped\n".to_vec()), (Kind::StdinEnd, vec![])],
    )
    .await;
    let root = dir.path().join("root");
    assert_eq!(out, format!("piped\nroot={} token=32\n", root.display()));
    assert_eq!(err, "oops\n");
    assert_eq!(code, 4);

    // A terminal of the client's size, following a resize; stderr merged into it.
    let size = TtySize { rows: 33, cols: 77 };
    let (out, _, code) = session(
        &client,
        "test -t 0 && test -t 1 && stty size && read line && stty size && echo \"got $line\" >&2",
        Some(size),
        vec![
            (
                Kind::Resize,
                TtySize {
                    rows: 40,
                    cols: 100,
                }
                .to_bytes()
                .to_vec(),
            ),
            (Kind::Stdin, b"typed\n".to_vec()),
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert!(lines.contains(&"40 100"), "{out:?}");
    assert!(lines.contains(&"got typed"), "{out:?}");
    // A signal ends the command with 128 + its number, as a shell reports it.
    let (_, _, code) = session(
        &client,
        "kill -TERM $$",
        None,
        vec![(Kind::StdinEnd, vec![])],
    )
    .await;
    assert_eq!(code, 128 + 15);
}
