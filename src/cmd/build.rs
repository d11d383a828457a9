//! `kiln build`: compile a Dockerfile, solve its graph on the local worker (store +
//! executor), write the image and its outputs. Flags follow `docker build` / buildx.

pub(crate) mod annotate;
mod args;
mod cache_io;
pub(crate) mod compat;
pub(crate) mod explain;
pub(crate) mod failure;
pub(crate) mod finish;
pub(crate) mod input;
pub(crate) mod logs;
pub(crate) mod named;
mod onerror;
pub(crate) mod output;
pub(crate) mod pull;
mod push;
pub(crate) mod resolver;
pub(crate) mod secrets;
pub(crate) mod store;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use anyhow::{bail, Context};
use kiln_cache::Reference;
use kiln_executor::Executor;
use kiln_frontend::compile::{compile, platform, CompileOptions};
use kiln_frontend::graph::Graph;
use kiln_solver::local::export::{write_image, ImageMeta};
use kiln_solver::local::{LocalWorker, Output};
use kiln_solver::{NoCache, Progress, SolveError, SolveRequest, Solver};
use tokio_util::sync::CancellationToken;

use crate::cli::GlobalArgs;
use crate::progress::{printer, ProgressMode};
use args::jobs;
pub use args::{build_args, BuildArgs};
use output::OutputSpec;
pub use store::open_store_absolute;
use store::{record_keys, BuildLease};

/// `docker build`'s exit code for a failed build.
pub(crate) const BUILD_FAILED: i32 = 1;

pub fn run(global: &GlobalArgs, args: BuildArgs) -> anyhow::Result<i32> {
    compat::check_attestations(&args.compat)?;
    compat::check_entitlements(&args.compat)?;
    let named = compat::named_contexts(&args.compat.build_contexts)?;
    let (run_network, run_settings) = compat::run_settings(&args.compat)?;
    let annotations = compat::annotations(&args.compat.annotations)?;
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
    let cache_from = args
        .cache_from
        .iter()
        .map(|c| cache_io::parse(c, false))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let cache_to = args
        .cache_to
        .iter()
        .map(|c| cache_io::parse(c, true))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let image_outputs = args
        .outputs
        .iter()
        .map(|o| push::image_output(o))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // One runtime and one registry client for pulls, cache import/export, the solve and
    // pushes: the client's connections belong to the runtime that opened them.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the build runtime")?;
    let registry = kiln_registry::RegistryClient::new(args.registry.client_config());
    let puller = || {
        pull::BasePuller {
            client: registry.clone(),
            handle: rt.handle().clone(),
            always: args.pull,
            verbose: !(args.quiet
                || matches!(args.progress, ProgressMode::Quiet | ProgressMode::Rawjson)),
        }
        .with_layer_progress(&args.registry, args.progress)
    };
    let resolver = resolver::StoreResolver::new(&store).with_puller(puller());
    let opts = CompileOptions {
        build_args: build_args(&args.build_args),
        target: args.target.clone(),
        target_platform: None,
        build_platform: None,
        context_excludes: input.ignore.clone(),
        all_stages: false,
        named_contexts: named.compile.clone(),
        run_network,
        run_settings,
    };
    let compiled = match compile(&input.dockerfile_name, &input.dockerfile, &opts, &resolver) {
        Ok(c) => c,
        Err(e) => {
            // As `docker build`: a Dockerfile that cannot be built is a failed build (1).
            eprintln!("ERROR: failed to solve: {e}");
            return Ok(BUILD_FAILED);
        }
    };
    named::fetch_images(&puller(), &store, &compiled.graph, &named.compile)?;
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
    locals.extend(named.dirs.clone());
    // Everything the build writes or loads is leased until this guard drops (after the
    // image and outputs are written, or the failure is reported); a crashed build's lease
    // expires by itself.
    let lease = BuildLease::new(store.clone())?;
    let verbose =
        !(args.quiet || matches!(args.progress, ProgressMode::Quiet | ProgressMode::Rawjson));
    let remote = rt.block_on(cache_io::import(&registry, &store, &cache_from, verbose));
    let worker = LocalWorker::new(store.clone(), executor, locals, compiled.proxy_env.clone())
        .with_lease(lease.lease.clone())
        .with_graph_hints(&compiled.graph)
        .with_remote_caches(remote.clone())
        .with_run_extras(onerror::run_extras(global, &args)?);
    let explainer = explain::Explainer::new(
        store.root(),
        &logs::identity(&args),
        &input.dockerfile,
        Arc::new(compiled.graph.clone()),
        no_cache.clone(),
    );
    let worker = worker.with_key_observer(explainer.observer());
    let mut watch = logs::Watch {
        logs: logs::StepLogs::new(store.root(), args.logs.as_deref())?,
        explainer: explainer.clone(),
    };
    let logs_dir = watch.logs.dir().to_path_buf();
    let solver = Solver::new(worker, jobs(&args));
    let graph = Arc::new(compiled.graph.clone());
    let mode = if quiet {
        ProgressMode::Quiet
    } else {
        onerror::progress_mode(args.on_error, args.progress)
    };

    let started = std::time::Instant::now();
    let result = rt.block_on(async {
        let (progress, mut rx) = Progress::channel();
        // Cache hits that download layers show it on their step.
        remote.report_to(progress.clone());
        let mut print = printer(mode);
        let printer_task = tokio::task::spawn_blocking(move || {
            while let Some(ev) = rx.blocking_recv() {
                watch.event(&ev, &mut *print);
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
        // The printer ends when every sender is gone, the caches' one included.
        remote.stop_reporting();
        let _ = printer_task.await;
        r
    });
    let solution = match result {
        Ok(s) => s,
        Err(e) => {
            explainer.save_failed(match &*e {
                SolveError::Step { vertex, .. } => Some(vertex),
                _ => None,
            });
            let code = failure::report_failure(&store, &solver, &graph, &input, &compiled, &e);
            if args.keep_intermediate {
                onerror::keep_intermediate(&store, solver.worker(), &graph, &compiled);
            }
            if !quiet {
                eprintln!("full step logs: {}", logs_dir.display());
            }
            return Ok(onerror::exit_code(args.on_error, &e, code));
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
    // --squash, SOURCE_DATE_EPOCH and the image output's compression (finish.rs).
    let epoch = finish::source_date_epoch(&opts.build_args)?;
    let finished = finish::finish(
        &store,
        Some(&lease.lease),
        &graph,
        chain,
        args.squash,
        &outputs,
        epoch,
    )?;
    let chain = &finished.chain;
    let meta = ImageMeta {
        config,
        history: finished.history(&compiled.history),
        platform: compiled.platform.clone(),
        created: epoch.unwrap_or_else(now_secs),
        source_date_epoch: epoch,
        base_history: resolver.base_history(&compiled.history),
    };
    // --load (buildx): the image is named in the store besides the other outputs.
    let named_in_store = args.compat.load || outputs.iter().all(OutputSpec::is_image);
    let tag_names: Vec<Reference> = if named_in_store {
        names.clone()
    } else {
        Vec::new()
    };
    let inline = cache_to
        .iter()
        .any(|c| c.location == cache_io::Location::Inline);
    let cache_entries = if cache_to.is_empty() {
        Vec::new()
    } else {
        cache_io::entries(&store, &graph, &solution.keys, &remote)
    };
    let image = if inline {
        let plain = write_image(&store, chain, &meta, &[])?;
        let solved = solution.output.chain().cloned().unwrap_or_default();
        let chains = (solved.as_ref(), chain);
        cache_io::with_inline_cache(&store, &plain, &cache_entries, chains, &tag_names)?
    } else {
        write_image(&store, chain, &meta, &tag_names)?
    };
    let image = annotate::annotate(&store, &image, &annotations, &tag_names)?;
    let mut push_names: Vec<Reference> = if args.push { names.clone() } else { Vec::new() };
    for o in image_outputs.iter().flatten() {
        for n in &o.names {
            store.tag_image(&image, n)?;
        }
        if o.push {
            push_names.extend(if o.names.is_empty() {
                names.clone()
            } else {
                o.names.clone()
            });
        }
    }
    if (args.push || image_outputs.iter().flatten().any(|o| o.push)) && push_names.is_empty() {
        bail!("--push needs a name to push to: add -t REGISTRY/REPOSITORY:TAG");
    }
    let mount_ids = cache_io::cache_mount_ids(&graph);
    // mode=min picks steps by the solved chain (squash or recompression change the image's).
    let solved = solution.output.chain().cloned().unwrap_or_default();
    rt.block_on(async {
        for (name, digest) in push::push_image(&registry, &store, &image, &push_names).await? {
            if !quiet {
                eprintln!("pushed {name}: digest: {digest}");
            }
        }
        for spec in &cache_to {
            let what = cache_io::Export {
                entries: &cache_entries,
                image: &solved,
                mount_ids: &mount_ids,
                imported: &remote,
                verbose,
            };
            cache_io::export(&registry, &store, spec, &what)
                .await
                .context("exporting the build cache")?;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    for o in &outputs {
        match o {
            OutputSpec::Image { .. } => {}
            OutputSpec::Archive { dest, layers } => finished.write_archive(
                &store,
                Some(&lease.lease),
                &image,
                &meta,
                layers,
                &names,
                dest,
            )?,
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
    explainer.save();
    if args.keep_intermediate {
        onerror::keep_intermediate(&store, solver.worker(), &graph, &compiled);
    }
    if args.explain {
        eprintln!("{}", explainer.report(&solution.ran));
    }
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
        // A fully cached build wrote no step log: there is nothing to point at.
        if !solution.ran.is_empty() {
            eprintln!("full step logs: {}", logs_dir.display());
        }
    }
    Ok(0)
}

pub(crate) fn now_secs() -> i64 {
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
pub(crate) fn no_cache_vertices(graph: &Graph, stages: &[String]) -> NoCache {
    let wanted: BTreeSet<&str> = stages.iter().map(String::as_str).collect();
    NoCache::Vertices(
        graph
            .vertices()
            .filter(|v| wanted.contains(v.origin.stage.as_str()))
            .map(|v| v.digest.clone())
            .collect(),
    )
}
