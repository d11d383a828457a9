//! `kiln start`: start created or stopped containers (each under its own monitor process);
//! `-a` follows the output and exits with the container's code, `-i` also attaches stdin
//! (an interactive container is attached through its monitor: terminal, detach keys).

use clap::Args;
use kiln_runtime::logs::LogFilter;
use kiln_runtime::{lifecycle, sigproxy};

use super::container_opts::{for_each, kiln_binary, open_store};
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach to the container's output and wait for it to exit
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach the container's stdin
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Keys that detach from an attached terminal (default ctrl-p,ctrl-q)
    #[arg(long)]
    pub detach_keys: Option<String>,
    /// Containers (name, id or id prefix)
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(global: &GlobalArgs, args: StartArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    let kiln = kiln_binary()?;
    if args.attach || args.interactive {
        let [one] = args.containers.as_slice() else {
            anyhow::bail!("start --attach/--interactive takes exactly one container");
        };
        // Output of this run only; signals to kiln go to the container (Docker's sig-proxy).
        let since = std::time::SystemTime::now();
        let target = lifecycle::find(&store, one)?;
        if target.config.tty || target.config.open_stdin {
            if let Err(e) = lifecycle::start(&store, &kiln, &target.id) {
                eprintln!("error: {e}");
                return Ok(e.exit_code());
            }
            let session = super::attach::Session {
                stdin: args.interactive && target.config.open_stdin,
                tty: target.config.tty,
                replay: true,
                detach_keys: args.detach_keys.clone(),
                sig_proxy: true,
                since,
            };
            return Ok(session.run(&store, &target.id)?.unwrap_or(0));
        }
        let from = LogFilter {
            since: Some(since),
            ..Default::default()
        };
        sigproxy::start(store.root().to_path_buf(), target.id.clone())?;
        let rec = match lifecycle::start(&store, &kiln, &target.id) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(e.exit_code());
            }
        };
        super::logs::stream(&store, &rec.id, &from, true, false)?;
        return Ok(lifecycle::wait(&store, &rec.id)?);
    }
    for_each(&args.containers, |r| {
        lifecycle::start(&store, &kiln, r)?;
        Ok(Some(r.to_string()))
    })
}
