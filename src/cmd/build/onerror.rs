//! `kiln build --on-error=shell`: when a RUN fails, an interactive shell on this terminal
//! in that step's container — its rootfs as the command left it, env, cwd, user and
//! mounts — through a pseudo-terminal. The build goes on to fail (with the command's exit
//! code) when the shell exits.

use std::future::Future;
use std::io::{Read, Write};
use std::pin::Pin;

use kiln_executor::{stdin_stream, ContainerSpec, Executor, OutputLine, RunOptions};
use kiln_solver::local::FailureShell;

/// What to do when a RUN fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OnError {
    /// Report the failure and stop (the default)
    #[default]
    Fail,
    /// Open a shell in the failed step's container first
    Shell,
}

/// Runs the failure shell on kiln's own stdin/stdout.
pub struct TerminalShell {
    pub executor: Executor,
}

impl FailureShell for TerminalShell {
    fn open<'a>(
        &'a self,
        spec: ContainerSpec,
        step: &'a str,
        exit_code: i32,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            eprintln!(
                "\nkiln: {step} failed with exit code {exit_code}; a shell in its container follows (exit it to end the build)"
            );
            let mut spec = spec;
            // Piped input (no terminal) goes to a shell reading a pipe, which ends at the
            // input's end, as `docker run -i` without `-t`.
            // SAFETY: isatty only inspects our own stdin descriptor.
            spec.process.tty = unsafe { libc::isatty(libc::STDIN_FILENO) } == 1;
            let (handle, stdin) = stdin_stream();
            if let Some((rows, cols)) = window_size() {
                handle.resize(rows, cols);
            }
            let raw = RawTerminal::enter();
            // stdin is read on a plain thread: a blocking read cannot be cancelled, and
            // it ends by itself when the next read finds the run over.
            let feed = handle.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 1024];
                let mut input = std::io::stdin();
                loop {
                    match input.read(&mut buf) {
                        Ok(0) | Err(_) => {
                            // The end of a terminal's input: ^D ends the shell on its pty
                            // (where a close means nothing); a pipe's end closes its stdin.
                            feed.write(vec![0x04]);
                            feed.close();
                            return;
                        }
                        Ok(n) => {
                            if !feed.write(buf[..n].to_vec()) {
                                return;
                            }
                        }
                    }
                }
            });
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<OutputLine>();
            let printer = tokio::spawn(async move {
                while let Some(l) = rx.recv().await {
                    let nl: &[u8] = if l.partial { b"" } else { b"\n" };
                    let mut out: Box<dyn Write> = match l.stream {
                        kiln_executor::Stream::Stdout => Box::new(std::io::stdout().lock()),
                        kiln_executor::Stream::Stderr => Box::new(std::io::stderr().lock()),
                    };
                    let _ = out
                        .write_all(&l.line)
                        .and_then(|_| out.write_all(nl))
                        .and_then(|_| out.flush());
                }
            });
            let opts = RunOptions {
                output: Some(tx),
                stdin,
            };
            match self.executor.run(&spec, opts).await {
                Ok(o) => tracing::debug!("failure shell exited with {}", o.exit_code()),
                Err(e) => eprintln!("kiln: the failure shell could not start: {e}"),
            }
            let _ = printer.await;
            drop(raw);
            drop(handle);
        })
    }
}

fn window_size() -> Option<(u16, u16)> {
    // SAFETY: TIOCGWINSZ writes one winsize struct into `ws`, which lives on our stack.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::ioctl(libc::STDIN_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_row > 0).then_some((ws.ws_row, ws.ws_col))
}

/// This terminal in raw mode (keys go to the shell's pty as typed, its echo is the only
/// one) until dropped; nothing when stdin is not a terminal.
struct RawTerminal {
    saved: Option<libc::termios>,
}

impl RawTerminal {
    fn enter() -> RawTerminal {
        // SAFETY: termios calls on our own stdin with structs that live on our stack.
        unsafe {
            if libc::isatty(libc::STDIN_FILENO) != 1 {
                return RawTerminal { saved: None };
            }
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut t) != 0 {
                return RawTerminal { saved: None };
            }
            let saved = t;
            libc::cfmakeraw(&mut t);
            if libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &t) != 0 {
                return RawTerminal { saved: None };
            }
            RawTerminal { saved: Some(saved) }
        }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            // SAFETY: restores the settings read in `enter` on the same descriptor.
            unsafe {
                libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, t);
            }
        }
    }
}

/// The secrets, SSH agents and failure shell `args` ask RUN steps to have.
pub fn run_extras(
    global: &crate::cli::GlobalArgs,
    args: &super::BuildArgs,
) -> anyhow::Result<kiln_solver::local::RunExtras> {
    let secrets = super::secrets::read(&args.secrets, &args.ssh)?;
    let on_failure: Option<std::sync::Arc<dyn FailureShell>> = match args.on_error {
        OnError::Fail => None,
        OnError::Shell => {
            let store_root = std::path::absolute(&global.root)?;
            let cfg =
                crate::cmd::executor_config::executor_config(global, store_root.join("exec"))?;
            Some(std::sync::Arc::new(TerminalShell {
                executor: Executor::new(cfg),
            }))
        }
    };
    Ok(kiln_solver::local::RunExtras {
        secrets: std::sync::Arc::new(secrets),
        on_failure,
    })
}

/// After `--on-error=shell`, the build ends with the failed command's own exit code (the
/// user saw and debugged that command); otherwise with `fallback`.
pub fn exit_code(mode: OnError, e: &kiln_solver::SolveError, fallback: i32) -> i32 {
    match (mode, e.exit_code()) {
        (OnError::Shell, Some(code)) if code != 0 => code,
        _ => fallback,
    }
}

/// `--keep-intermediate`: the result of every step this build ran or loaded, stored as an
/// untagged image that `kiln run -it ID sh` starts; one line per step on stderr.
pub fn keep_intermediate(
    store: &kiln_cache::Store,
    worker: &kiln_solver::local::LocalWorker,
    graph: &kiln_frontend::graph::Graph,
    compiled: &kiln_frontend::compile::Compiled,
) {
    use kiln_frontend::graph::Op;
    use kiln_solver::local::export::{write_image, ImageMeta};
    let mut config = compiled.config.clone();
    // A shell, as root, whatever the final image would run.
    config.user.clear();
    config.entrypoint = None;
    config.cmd = Some(vec!["sh".into()]);
    for v in graph.vertices() {
        if !matches!(v.op, Op::Exec(_) | Op::File(_) | Op::Merge) || v.origin.start_line == 0 {
            continue;
        }
        let Some(chain) = worker.result_of(&v.digest) else {
            continue;
        };
        let meta = ImageMeta {
            config: config.clone(),
            history: Vec::new(),
            platform: compiled.platform.clone(),
            created: super::now_secs(),
            source_date_epoch: None,
            base_history: Vec::new(),
        };
        match write_image(store, &chain, &meta, &[]) {
            Ok(img) => eprintln!(
                "intermediate image {} for {}",
                img.config_digest, v.origin.description
            ),
            Err(e) => eprintln!(
                "kiln: storing the result of {} as an image: {e}",
                v.origin.description
            ),
        }
    }
}

/// A failure shell shares the terminal with progress: the live tty view would redraw over
/// it, so `--on-error=shell` prints progress as plain lines instead.
pub fn progress_mode(
    on_error: OnError,
    mode: crate::progress::ProgressMode,
) -> crate::progress::ProgressMode {
    use crate::progress::ProgressMode;
    match (on_error, mode) {
        (OnError::Shell, ProgressMode::Auto | ProgressMode::Tty) => ProgressMode::Plain,
        _ => mode,
    }
}
