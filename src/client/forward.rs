//! Any other command through the daemon: the command line, working directory and
//! environment go to `POST /v1/commands`; the daemon runs it on its store with its own kiln
//! binary, and stdin, stdout, stderr and the exit code travel as frames. Output and exit
//! codes are therefore exactly the in-process command's. At a terminal, an interactive
//! command (`-i`/`-t`) runs on a terminal in the daemon, ours in raw mode meanwhile.

use std::io::{Read, Write};

use anyhow::{anyhow, bail, Context};
use kiln_daemon::api::{CommandRequest, ErrorBody};
use kiln_daemon::client::Client;
use kiln_daemon::command::is_private_env;
use kiln_daemon::frames::{exit_code, read_frame, write_frame, Kind};

type Frames = tokio::sync::mpsc::Sender<(Kind, Vec<u8>)>;

fn request() -> anyhow::Result<CommandRequest> {
    let args = std::env::args_os()
        .skip(1)
        .map(|a| {
            a.into_string()
                .map_err(|a| anyhow!("argument {a:?} is not UTF-8; the daemon API carries text"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let cwd = std::env::current_dir().context("reading the working directory")?;
    Ok(CommandRequest {
        args,
        cwd: cwd.display().to_string(),
        env: std::env::vars()
            .filter(|(k, _)| !is_private_env(k))
            .collect(),
        tty: None,
    })
}

/// Copy our stdin to the channel until its end (on a plain thread: reading stdin blocks).
fn pump_stdin(tx: Frames) {
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = tx.blocking_send((Kind::StdinEnd, Vec::new()));
                    return;
                }
                Ok(n) => {
                    if tx.blocking_send((Kind::Stdin, buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
    });
}

/// Tell the daemon's terminal each new size of ours.
fn follow_window(tx: Frames) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut winch) = signal(SignalKind::window_change()) else {
        return;
    };
    tokio::spawn(async move {
        while winch.recv().await.is_some() {
            if let Some(size) = super::terminal::size() {
                if tx
                    .send((Kind::Resize, size.to_bytes().to_vec()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    });
}

/// How the command uses stdin.
#[derive(Debug, Default, Clone, Copy)]
struct StdinUse {
    /// It reads stdin, as its in-process self would: `-i`, a `-` argument (`load`,
    /// `import -`, `cp -`, `build -f -`), `load` without `-i FILE`. Other commands get an
    /// empty stdin, so a forwarded command never swallows a script's input.
    reads: bool,
    /// It asks for a terminal (`-t`).
    tty: bool,
}

fn stdin_use() -> StdinUse {
    use clap::CommandFactory;
    let Ok(mut m) = crate::cli::Cli::command().try_get_matches_from(std::env::args_os()) else {
        return StdinUse::default();
    };
    let mut name = String::new();
    while let Some((sub, sm)) = m.subcommand() {
        name = sub.to_string();
        let sm = sm.clone();
        m = sm;
    }
    let flag = |id: &str| {
        m.try_get_one::<bool>(id)
            .ok()
            .flatten()
            .copied()
            .unwrap_or(false)
    };
    let dash = m.ids().any(|id| {
        m.try_get_raw(id.as_str())
            .ok()
            .flatten()
            .is_some_and(|mut vals| vals.any(|v| v == "-"))
    });
    StdinUse {
        reads: flag("interactive")
            || flag("password_stdin")
            || dash
            || (name == "load" && !m.contains_id("input")),
        tty: flag("tty"),
    }
}

pub fn run(rt: &tokio::runtime::Runtime, client: &Client) -> anyhow::Result<i32> {
    let mut req = request()?;
    let stdin = stdin_use();
    // At a terminal, an interactive command gets one in the daemon too.
    req.tty = if super::terminal::stdin_is_terminal() && (stdin.reads || stdin.tty) {
        super::terminal::size()
    } else {
        None
    };
    let raw = match req.tty {
        Some(_) => {
            Some(super::terminal::RawMode::enter().context("setting the terminal to raw mode")?)
        }
        None => None,
    };
    let result = rt.block_on(async {
        let io = client.command_stream().await.map_err(super::api_error)?;
        let (mut rd, mut wr) = tokio::io::split(io);
        let json = serde_json::to_vec(&req)?;
        write_frame(&mut wr, Kind::Request, &json).await?;
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        if req.tty.is_some() {
            follow_window(tx.clone());
        }
        if stdin.reads {
            pump_stdin(tx);
        } else {
            let _ = tx.send((Kind::StdinEnd, Vec::new())).await;
        }
        let stdin_task = tokio::spawn(async move {
            while let Some((kind, data)) = rx.recv().await {
                if write_frame(&mut wr, kind, &data).await.is_err() {
                    break;
                }
            }
            // Keep our half open: closing it tells the daemon we hung up.
            std::future::pending::<()>().await;
        });
        let result = loop {
            match read_frame(&mut rd).await? {
                Some((Kind::Stdout, data)) => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&data)?;
                    out.flush()?;
                }
                Some((Kind::Stderr, data)) => {
                    let mut err = std::io::stderr().lock();
                    err.write_all(&data)?;
                    err.flush()?;
                }
                Some((Kind::Exit, payload)) => {
                    break exit_code(&payload)
                        .ok_or_else(|| anyhow!("the daemon sent a malformed exit code"))
                }
                Some((Kind::Error, payload)) => {
                    let body: ErrorBody = serde_json::from_slice(&payload)
                        .unwrap_or_else(|_| ErrorBody::new(String::from_utf8_lossy(&payload)));
                    break Err(super::api_error(kiln_daemon::client::ClientError::Api {
                        status: hyper::StatusCode::INTERNAL_SERVER_ERROR,
                        body,
                    }));
                }
                Some((other, _)) => bail!("the daemon sent an unexpected {other:?} frame"),
                None => bail!("the daemon closed the connection before the command ended (did it stop or crash?)"),
            }
        };
        stdin_task.abort();
        result
    });
    // The terminal is ours again before anything is printed about the result.
    drop(raw);
    result
}
