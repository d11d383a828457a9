//! `kiln build`: compile a Dockerfile, solve its graph on the local worker (store +
//! executor), write the image and its outputs. Flags follow `docker build` / buildx.

mod failure;
mod input;
mod output;
mod resolver;
mod store;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Args;
use kiln_cache::{Reference, Store};
use kiln_executor::Executor;
use kiln_frontend::compile::{compile, platform, CompileOptions};
use kiln_frontend::graph::Graph;
use kiln_solver::local::export::{write_image, ImageMeta};
use kiln_solver::local::{LocalWorker, Output};
use kiln_solver::{NoCache, Progress, SolveError, SolveRequest, Solver};
use tokio_util::sync::CancellationToken;

use crate::cli::GlobalArgs;
use crate::progress::{printer, ProgressMode};
use output::OutputSpec;
pub use store::open_store_absolute;
use store::{record_keys, BuildLease};

/// `docker build`'s exit code for a failed build.
const BUILD_FAILED: i32 = 1;

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
    /// Output: type=image|oci|docker|local|tar[,dest=PATH], or a directory
    #[arg(short = 'o', long = "output")]
    pub outputs: Vec<String>,
}

fn build_args(list: &[String]) -> BTreeMap<String, String> {
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

fn jobs(args: &BuildArgs) -> usize {
    args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    })
}

pub fn run(global: &GlobalArgs, args: BuildArgs) -> anyhow::Result<i32> {
    let store = Arc::new(open_store_absolute(global)?);
    let host = platform::host_platform();
    if let Some(p) = &args.platform {
        let wanted =
            platform::parse_platform(p).map_err(|e| anyhow::anyhow!("--platform {p}: {e}"))?;
        if wanted.os != host.os || wanted.architecture != host.architecture {
            bail!("--platform {p}: kiln builds only for this machine's platform ({host}); cross-platform builds are not supported");
        }
    }
    let names = args
        .tags
        .iter()
        .map(|t| Reference::parse(t).with_context(|| format!("invalid tag {t:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let outputs = args
        .outputs
        .iter()
        .map(|o| output::parse(o))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let input = input::read_input(
        &args.context,
        args.file.as_deref(),
        &store.root().join("build-tmp"),
    )?;
    let resolver = resolver::StoreResolver::new(&store);
    let opts = CompileOptions {
        build_args: build_args(&args.build_args),
        target: args.target.clone(),
        target_platform: None,
        build_platform: None,
        context_excludes: input.ignore.clone(),
        all_stages: false,
    };
    let compiled = match compile(&input.dockerfile_name, &input.dockerfile, &opts, &resolver) {
        Ok(c) => c,
        Err(e) => {
            // As `docker build`: a Dockerfile that cannot be built is a failed build (1).
            eprintln!("ERROR: failed to solve: {e}");
            return Ok(BUILD_FAILED);
        }
    };
    let quiet = args.quiet || args.progress == ProgressMode::Quiet;
    if !quiet {
        for w in &compiled.warnings {
            eprintln!("WARNING: {}", w.short());
        }
    }
    let no_cache = if args.no_cache {
        NoCache::All
    } else if !args.no_cache_filter.is_empty() {
        no_cache_vertices(&compiled.graph, &args.no_cache_filter)
    } else {
        NoCache::Off
    };
    let state_dir = store.root().join("exec");
    let executor = Executor::new(super::executor_config::executor_config(global, state_dir)?);
    let mut locals = BTreeMap::new();
    locals.insert("context".to_string(), input.context.clone());
    // Everything the build writes or loads is leased until this guard drops (after the
    // image and outputs are written, or the failure is reported); a crashed build's lease
    // expires by itself.
    let lease = BuildLease::new(store.clone())?;
    let worker = LocalWorker::new(store.clone(), executor, locals, compiled.proxy_env.clone())
        .with_lease(lease.lease.clone());
    let solver = Solver::new(worker, jobs(&args));
    let graph = Arc::new(compiled.graph.clone());
    let mode = if quiet {
        ProgressMode::Quiet
    } else {
        args.progress
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the build runtime")?;
    let started = std::time::Instant::now();
    let result = rt.block_on(async {
        let (progress, mut rx) = Progress::channel();
        let mut print = printer(mode);
        let printer_task = tokio::task::spawn_blocking(move || {
            while let Some(ev) = rx.blocking_recv() {
                print.event(&ev);
            }
            print.finish();
        });
        let cancel = CancellationToken::new();
        let on_signal = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                on_signal.cancel();
            }
        });
        let r = solver
            .solve(SolveRequest {
                graph: graph.clone(),
                root: compiled.root.clone(),
                no_cache,
                progress,
                cancel,
            })
            .await;
        let _ = printer_task.await;
        r
    });
    let solution = match result {
        Ok(s) => s,
        Err(e) => {
            return Ok(report_failure(
                &store, &solver, &graph, &input, &compiled, &e,
            ))
        }
    };
    let Output::Chain(chain) = &solution.output else {
        bail!("internal error: the build's result is the build context, not a filesystem");
    };
    let mut config = compiled.config.clone();
    for l in &args.labels {
        let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
        config.labels.insert(k.to_string(), v.to_string());
    }
    let meta = ImageMeta {
        config,
        history: compiled.history.clone(),
        platform: compiled.platform.clone(),
        created: now_secs(),
        base_history: resolver.base_history(&compiled.history),
    };
    let tag_names: Vec<Reference> = if outputs.iter().all(|o| *o == OutputSpec::Image) {
        names.clone()
    } else {
        Vec::new()
    };
    let image = write_image(&store, chain, &meta, &tag_names)?;
    for o in &outputs {
        match o {
            OutputSpec::Image => {}
            OutputSpec::Archive { dest } => output::write_archive(&store, &image, &names, dest)?,
            OutputSpec::Local { dest } => output::write_local(&store, chain, dest)?,
            OutputSpec::Tar { dest } => output::write_tar(&store, chain, dest)?,
        }
    }
    let id = image.config_digest.to_string();
    if let Some(f) = &args.iidfile {
        std::fs::write(f, &id).with_context(|| format!("writing --iidfile {}", f.display()))?;
    }
    if let Some(f) = &args.metadata_file {
        // BuildKit's keys, so tools reading buildx metadata files work unchanged.
        let mut meta = serde_json::json!({
            "containerimage.digest": image.manifest_digest.to_string(),
            "containerimage.config.digest": id,
        });
        if !tag_names.is_empty() {
            let names: Vec<String> = tag_names.iter().map(|n| n.to_string()).collect();
            meta["image.name"] = serde_json::Value::String(names.join(","));
        }
        std::fs::write(f, serde_json::to_vec_pretty(&meta)?)
            .with_context(|| format!("writing --metadata-file {}", f.display()))?;
    }
    record_keys(&store, &solution.keys);
    if quiet {
        println!("{id}");
    } else if args.progress != ProgressMode::Rawjson {
        eprintln!(
            "writing image {id} done ({} steps ran, {} cached, {:.1}s)",
            solution.ran.len(),
            solution.cached.len(),
            started.elapsed().as_secs_f64()
        );
        for n in &tag_names {
            eprintln!("naming to {n} done");
        }
    }
    Ok(0)
}

fn now_secs() -> i64 {
    // SOURCE_DATE_EPOCH pins `created` for reproducible images, as BuildKit honours it.
    if let Some(t) = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse().ok())
    {
        return t;
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The vertices of the named stages.
fn no_cache_vertices(graph: &Graph, stages: &[String]) -> NoCache {
    let wanted: BTreeSet<&str> = stages.iter().map(String::as_str).collect();
    NoCache::Vertices(
        graph
            .vertices()
            .filter(|v| wanted.contains(v.origin.stage.as_str()))
            .map(|v| v.digest.clone())
            .collect(),
    )
}

fn report_failure(
    store: &Store,
    solver: &Solver<LocalWorker>,
    graph: &Graph,
    input: &input::BuildInput,
    compiled: &kiln_frontend::compile::Compiled,
    e: &SolveError,
) -> i32 {
    eprintln!("ERROR: failed to solve: {e}");
    let SolveError::Step { vertex, .. } = e else {
        return BUILD_FAILED;
    };
    if let Some(v) = graph.get(vertex) {
        if let Some(x) = failure::excerpt(&input.dockerfile_name, &input.dockerfile, &v.origin) {
            eprintln!("{x}");
        }
    }
    // Keep the state the failed step started from as an image, to debug it in a shell.
    let last_good =
        failure::failed_input(graph, vertex).and_then(|d| solver.worker().result_of(&d));
    if let Some(chain) = last_good {
        let mut config = compiled.config.clone();
        config.user.clear();
        config.entrypoint = None;
        config.cmd = Some(vec!["sh".into()]);
        let meta = ImageMeta {
            config,
            history: Vec::new(),
            platform: compiled.platform.clone(),
            created: now_secs(),
            base_history: Vec::new(),
        };
        match write_image(store, &chain, &meta, &[]) {
            Ok(img) => eprintln!(
                "the state before the failing step is image {}; start a shell in it with: kiln run -it --rm {} sh",
                img.config_digest,
                img.config_digest.short()
            ),
            Err(err) => tracing::warn!("storing the last good state as an image: {err}"),
        }
    }
    BUILD_FAILED
}
