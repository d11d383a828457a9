//! `Stdin::Stream`: input fed while the container runs (pipe and pty), terminal resizes,
//! immediate delivery of unterminated output, end of input; and a stream used twice.

mod common;
use common::*;
use kiln_executor::*;
use std::time::Duration;
use tokio::sync::mpsc;

/// Collects output pieces as they arrive until `pat` shows up (30 s bound, a correctness
/// limit only).
async fn until(rx: &mut mpsc::UnboundedReceiver<OutputLine>, seen: &mut String, pat: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !seen.contains(pat) {
        let line = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {pat:?}; got {seen:?}"))
            .unwrap_or_else(|| panic!("output ended before {pat:?}; got {seen:?}"));
        seen.push_str(&String::from_utf8_lossy(&line.line));
        if !line.partial {
            seen.push('\n');
        }
    }
}

/// Runs `spec` with `stdin` in a task; its output arrives on the returned receiver.
fn start(
    exec: Executor,
    spec: ContainerSpec,
    stdin: Stdin,
) -> (
    tokio::task::JoinHandle<Result<RunOutcome, ExecError>>,
    mpsc::UnboundedReceiver<OutputLine>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let run = tokio::spawn(async move {
        exec.run(
            &spec,
            RunOptions {
                output: Some(tx),
                stdin,
            },
        )
        .await
    });
    (run, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipe_input_arrives_live_and_close_ends_it() {
    for runtime in ["native", "runc"] {
        pipe_input(runtime).await;
    }
}

async fn pipe_input(runtime: &str) {
    busybox();
    let sb = Sandbox::new(&format!("live-pipe-{runtime}"));
    let exec = sb.executor(runtime);
    // The prompt has no newline: it must still arrive before the input is sent.
    let spec = sb.sh("printf 'name? '; read n; echo \"hi $n\"; cat; echo done");
    let (handle, stdin) = stdin_stream();
    let (run, mut rx) = start(exec, spec, stdin);
    let mut seen = String::new();
    until(&mut rx, &mut seen, "name? ").await;
    assert!(handle.write(b"kiln\n".to_vec()));
    until(&mut rx, &mut seen, "hi kiln\n").await;
    handle.write(b"more\n".to_vec());
    until(&mut rx, &mut seen, "more\n").await;
    // A resize means nothing without a terminal; closing ends `cat`.
    handle.resize(10, 10);
    handle.close();
    until(&mut rx, &mut seen, "done\n").await;
    let outcome = run.await.unwrap().unwrap();
    assert_eq!(outcome.exit_code(), 0);
    sb.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tty_input_and_window_size() {
    busybox();
    let sb = Sandbox::new("live-tty");
    let exec = sb.native();
    let mut spec = sb.sh("stty size; read line; stty size; echo \"got $line\"");
    spec.process.tty = true;
    let (handle, stdin) = stdin_stream();
    handle.resize(25, 90);
    let (run, mut rx) = start(exec, spec, stdin);
    let mut seen = String::new();
    until(&mut rx, &mut seen, "25 90").await;
    handle.resize(40, 120);
    // The resize is applied before the line that follows it is delivered.
    handle.write(b"typed\r".to_vec());
    until(&mut rx, &mut seen, "got typed").await;
    assert!(seen.contains("40 120"), "{seen:?}");
    assert_eq!(run.await.unwrap().unwrap().exit_code(), 0);
    sb.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_feeds_one_run_only() {
    busybox();
    let sb = Sandbox::new("live-twice");
    let exec = sb.native();
    let spec = sb.sh("true");
    let (handle, stdin) = stdin_stream();
    handle.close();
    let again = stdin.clone();
    let (first, _) = run_with(&exec, &spec, stdin).await;
    assert_eq!(first.unwrap().exit_code(), 0);
    let (second, _) = run_with(&exec, &spec, again).await;
    match second {
        Err(ExecError::InvalidSpec(msg)) => assert!(msg.contains("already used"), "{msg}"),
        other => panic!("expected an error, got {other:?}"),
    }
    sb.assert_clean();
}
