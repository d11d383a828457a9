//! `kiln commit [-c INSTR]… [-m MSG] [-a AUTHOR] CONTAINER [REPOSITORY[:TAG]]`: a new image
//! from a container's changes.

use clap::Args;
use kiln_runtime::commit::{commit, CommitRequest};
use kiln_runtime::{freezer, lifecycle, State};

use super::container_opts::open_store;
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Apply a Dockerfile instruction to the image config (CMD, ENTRYPOINT, ENV, ...)
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Author
    #[arg(short = 'a', long)]
    pub author: Option<String>,
    /// Pause a running container while committing (default true)
    #[arg(short = 'p', long, default_value_t = true, action = clap::ArgAction::Set)]
    pub pause: bool,
    pub container: String,
    /// Name for the new image
    pub reference: Option<String>,
}

pub fn run(global: &GlobalArgs, args: CommitArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    let rec = lifecycle::find(&store, &args.container)?;
    // A consistent upper dir: freeze the container for the commit (as Docker does).
    let paused = args.pause && rec.state == State::Running && lifecycle::monitor_alive(&rec);
    if paused {
        freezer::pause(&store, &rec.id)?;
    }
    let result = commit(
        &store,
        &rec,
        &CommitRequest {
            changes: args.change,
            message: args.message,
            author: args.author,
            reference: args.reference,
        },
    );
    if paused {
        freezer::unpause(&store, &rec.id)?;
    }
    println!("{}", result?.config_digest);
    Ok(0)
}
