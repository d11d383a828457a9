//! `kiln start`: start created or stopped containers (each under its own monitor process).

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
    /// Containers (name, id or id prefix)
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(global: &GlobalArgs, args: StartArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    let kiln = kiln_binary()?;
    if args.attach {
        let [one] = args.containers.as_slice() else {
            anyhow::bail!("start --attach takes exactly one container");
        };
        // Output of this run only; signals to kiln go to the container (Docker's sig-proxy).
        let from = LogFilter {
            since: Some(std::time::SystemTime::now()),
            ..Default::default()
        };
        let target = lifecycle::find(&store, one)?;
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
