//! `kiln cp CONTAINER:SRC DEST` and `kiln cp SRC CONTAINER:DEST`.

use anyhow::{bail, Context};
use clap::Args;
use kiln_runtime::{copy, lifecycle};
use std::io::Write;
use std::path::Path;

use super::container_opts::open_store;
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct CpArgs {
    /// CONTAINER:PATH, a host path, or - (a tar stream on stdin)
    pub src: String,
    /// CONTAINER:PATH, a host path, or - (a tar stream on stdout)
    pub dest: String,
}

/// `name:path` with an absolute path is a container path; anything else is the host's
/// (as Docker, a leading `/` or `.` makes it a local path).
fn split(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    arg.split_once(':').filter(|(c, _)| !c.is_empty())
}

pub fn run(global: &GlobalArgs, args: CpArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    match (split(&args.src), split(&args.dest)) {
        // `-` is a tar stream on stdout or stdin, as Docker's.
        (Some((c, p)), None) if args.dest == "-" => {
            let rec = lifecycle::find(&store, c)?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            copy::copy_from_as_tar(&store, &rec, &absolute(p), &mut out)?;
            out.flush().context("writing the tar stream to stdout")?;
        }
        (None, Some((c, p))) if args.src == "-" => {
            let rec = lifecycle::find(&store, c)?;
            copy::copy_to_from_tar(&store, &rec, std::io::stdin().lock(), &absolute(p))?;
        }
        (Some((c, p)), None) => {
            let rec = lifecycle::find(&store, c)?;
            copy::copy_from(&store, &rec, &absolute(p), Path::new(&args.dest))?;
        }
        (None, Some((c, p))) => {
            let rec = lifecycle::find(&store, c)?;
            copy::copy_to(&store, &rec, Path::new(&args.src), &absolute(p))?;
        }
        (Some(_), Some(_)) => bail!("copying between containers is not supported"),
        (None, None) => bail!("one of source or destination must be CONTAINER:PATH"),
    }
    Ok(0)
}

/// Container paths are relative to its root.
fn absolute(p: &str) -> String {
    if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    }
}
