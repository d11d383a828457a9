//! `kiln build`'s command line: `docker build` / buildx flags.

use std::collections::BTreeMap;

use clap::Args;

use super::{compat, onerror};
use crate::progress::ProgressMode;

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Build context directory, or - for a tar archive on stdin
    pub context: String,
    /// Name and optionally tag the image (name:tag); repeatable
    #[arg(short = 't', long = "tag")]
    pub tags: Vec<String>,
    /// The Dockerfile (default: CONTEXT/Dockerfile); - reads it from stdin
    #[arg(short = 'f', long = "file")]
    pub file: Option<String>,
    /// Build this stage (default: the last one)
    #[arg(long)]
    pub target: Option<String>,
    /// Build-time variable: NAME=value, or NAME to take it from the environment
    #[arg(long = "build-arg")]
    pub build_args: Vec<String>,
    /// Do not use the cache for any step
    #[arg(long)]
    pub no_cache: bool,
    /// Do not use the cache for these stages (comma separated or repeated)
    #[arg(long = "no-cache-filter", value_delimiter = ',')]
    pub no_cache_filter: Vec<String>,
    /// Progress output: auto, tty, plain, rawjson or quiet
    #[arg(long, value_enum, default_value = "auto")]
    pub progress: ProgressMode,
    /// Set a label on the image: key=value; repeatable
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Write the image id to this file
    #[arg(long)]
    pub iidfile: Option<std::path::PathBuf>,
    /// Write the build result's metadata (image and config digests) as JSON to this file
    #[arg(long)]
    pub metadata_file: Option<std::path::PathBuf>,
    /// Print only the image id; no progress
    #[arg(short, long)]
    pub quiet: bool,
    /// Target platform (only the host's, linux/amd64 here)
    #[arg(long)]
    pub platform: Option<String>,
    /// Steps run at once (default: number of CPUs)
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Expose a secret to RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VAR; repeatable
    #[arg(long = "secret")]
    pub secrets: Vec<String>,
    /// Forward an SSH agent to RUN --mount=type=ssh: default (SSH_AUTH_SOCK) or ID=SOCKET; repeatable
    #[arg(long = "ssh")]
    pub ssh: Vec<String>,
    /// When a RUN fails: fail, or shell (an interactive shell in the failed step's container first)
    #[arg(long = "on-error", value_enum, default_value = "fail")]
    pub on_error: onerror::OnError,
    /// After the build, say for each step that ran why it missed the cache
    #[arg(long)]
    pub explain: bool,
    /// Keep every step's full log in this directory (default: under the store, newest builds)
    #[arg(long = "logs")]
    pub logs: Option<std::path::PathBuf>,
    /// Store every step's result as an untagged image (printed), to start a shell in any
    #[arg(long)]
    pub keep_intermediate: bool,
    /// Output: type=image|oci|docker|local|tar[,dest=PATH], or a directory
    #[arg(short = 'o', long = "output")]
    pub outputs: Vec<String>,
    /// Squash the layers the build adds above its base image into one
    #[arg(long)]
    pub squash: bool,
    /// Always resolve base image tags against their registries (pulling newer images);
    /// --pull=false is the default
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value = "false", overrides_with = "pull")]
    pub pull: bool,
    /// Push the image to the registry of every -t name
    #[arg(long)]
    pub push: bool,
    /// Import build cache: type=registry,ref=NAME | type=local,src=DIR[,cache-mounts=true]; repeatable
    #[arg(long = "cache-from")]
    pub cache_from: Vec<String>,
    /// Export build cache: type=registry,ref=NAME | type=local,dest=DIR | type=inline [,mode=min|max][,cache-mounts=true]
    #[arg(long = "cache-to")]
    pub cache_to: Vec<String>,
    /// buildx / docker build flags: named contexts, RUN settings, annotations, compatibility
    #[command(flatten)]
    pub compat: compat::CompatArgs,
    #[command(flatten)]
    pub registry: crate::cmd::registry_opts::RegistryArgs,
}

pub fn build_args(list: &[String]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for a in list {
        match a.split_once('=') {
            Some((k, v)) => {
                out.insert(k.to_string(), v.to_string());
            }
            // Docker: a bare name takes the value from the environment, or is ignored.
            None => {
                if let Ok(v) = std::env::var(a) {
                    out.insert(a.clone(), v);
                }
            }
        }
    }
    out
}

/// Steps run at once: --jobs, else one per CPU.
pub(super) fn jobs(args: &BuildArgs) -> usize {
    args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    })
}
