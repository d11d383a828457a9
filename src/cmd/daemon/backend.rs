//! The daemon's builds: the in-process build's compile, solve and image writing (the same
//! modules of `cmd/build`), with one solver shared by every build so a step that one build
//! is running is awaited, not run again, by the others. Each build gets its own worker
//! (its uploaded context, its lease) as a sibling of that solver.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use kiln_cache::image::spec::History;
use kiln_cache::{Reference, Store};
use kiln_daemon::api::{BuildRequest, BuildResult, Control, ErrorBody, LocalSource};
use kiln_daemon::backend::{BuildBackend, LineSink, Prepare};
use kiln_executor::{Executor, ExecutorConfig};
use kiln_frontend::compile::{compile, platform, CompileOptions, Compiled};
use kiln_frontend::graph::{Op, Source};
use kiln_solver::local::export::{write_image, ImageMeta};
use kiln_solver::local::secrets::{BuildSecrets, SecretValue};
use kiln_solver::local::{LocalWorker, Output, RunExtras};
use kiln_solver::{NoCache, Progress, SolveError, SolveRequest, Solver};
use tokio_util::sync::CancellationToken;

use crate::cmd::build::output::{self, OutputSpec};
use crate::cmd::build::{
    annotate, compat, explain, failure, finish, logs, named, no_cache_vertices, now_secs, pull,
    resolver, store,
};

/// `docker build`'s exit code for a failed build.
const BUILD_FAILED: i32 = 1;

pub struct KilnBackend {
    store: Arc<Store>,
    executor: ExecutorConfig,
    /// Shared by all builds through [`Solver::sibling`]; its own worker runs nothing.
    solver: Solver<LocalWorker>,
    handle: tokio::runtime::Handle,
    registry: kiln_registry::RegistryClient,
}

/// A compiled build waiting for its context.
pub struct Session {
    compiled: Compiled,
    names: Vec<Reference>,
    labels: Vec<String>,
    no_cache: NoCache,
    base_history: Vec<History>,
    dockerfile_name: String,
    dockerfile: Vec<u8>,
    /// Read on the client; in memory for this build only, never logged or stored.
    secrets: BuildSecrets,
    squash: bool,
    epoch: Option<i64>,
    outputs: Vec<OutputSpec>,
    explain: bool,
    identity: String,
    /// The local sources the upload holds in directories of their own (empty: the
    /// upload is the main context alone).
    upload_sources: Vec<String>,
    annotations: BTreeMap<String, String>,
    load: bool,
}

fn error(e: anyhow::Error) -> ErrorBody {
    ErrorBody {
        message: e.to_string(),
        causes: e.chain().skip(1).map(|c| c.to_string()).collect(),
    }
}

impl KilnBackend {
    pub fn new(
        store: Arc<Store>,
        executor: ExecutorConfig,
        jobs: usize,
        handle: tokio::runtime::Handle,
    ) -> KilnBackend {
        let idle = LocalWorker::new(
            store.clone(),
            Executor::new(executor.clone()),
            BTreeMap::new(),
            Vec::new(),
        );
        KilnBackend {
            store,
            executor,
            solver: Solver::new(idle, jobs),
            handle,
            registry: kiln_registry::RegistryClient::new(Default::default()),
        }
    }

    fn compile(&self, req: BuildRequest) -> anyhow::Result<Prepare<Session>> {
        use anyhow::Context;
        let host = platform::host_platform();
        if let Some(p) = &req.platform {
            let wanted =
                platform::parse_platform(p).map_err(|e| anyhow::anyhow!("--platform {p}: {e}"))?;
            if wanted.os != host.os || wanted.architecture != host.architecture {
                anyhow::bail!("--platform {p}: kiln builds only for this machine's platform ({host}); cross-platform builds are not supported");
            }
        }
        let (named, upload_sources) = named::from_request(&req);
        let (run_network, run_settings) = compat::run_settings_of(
            req.network.as_deref(),
            &req.add_hosts,
            &req.ulimits,
            req.shm_size.as_deref(),
        )?;
        let annotations = compat::annotations(&req.annotations)?;
        let outputs = req
            .outputs
            .iter()
            .map(|o| output::parse(o))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut secrets = BuildSecrets::default();
        for s in req.secrets {
            secrets.add_secret(s.id, SecretValue::new(s.value));
        }
        let names = req
            .tags
            .iter()
            .map(|t| Reference::parse(t).with_context(|| format!("invalid tag {t:?}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        // Base images the store lacks are pulled, as in-process; quietly (the daemon's
        // stderr is not the client's).
        let puller = || pull::BasePuller {
            client: self.registry.clone(),
            handle: self.handle.clone(),
            always: req.pull,
            verbose: false,
        };
        let resolver = resolver::StoreResolver::new(&self.store).with_puller(puller());
        let opts = CompileOptions {
            build_args: req.build_args,
            target: req.target,
            target_platform: None,
            build_platform: None,
            context_excludes: req.ignore,
            all_stages: false,
            named_contexts: named,
            run_network,
            run_settings,
        };
        let dockerfile = req.dockerfile.into_bytes();
        let compiled = match compile(&req.dockerfile_name, &dockerfile, &opts, &resolver) {
            Ok(c) => c,
            Err(e) => {
                return Ok(Prepare::Failed {
                    stderr: format!("ERROR: failed to solve: {e}"),
                    exit_code: BUILD_FAILED,
                })
            }
        };
        named::fetch_images(
            &puller(),
            &self.store,
            &compiled.graph,
            &opts.named_contexts,
        )?;
        let warnings = compiled.warnings.iter().map(|w| w.short()).collect();
        let no_cache = if req.no_cache {
            NoCache::All
        } else if !req.no_cache_filter.is_empty() {
            no_cache_vertices(&compiled.graph, &req.no_cache_filter)
        } else {
            NoCache::Off
        };
        let sources = compiled
            .graph
            .pruned(&compiled.root)
            .vertices()
            .filter_map(|v| match &v.op {
                Op::Source(Source::Local {
                    name,
                    include,
                    exclude,
                }) => Some(LocalSource {
                    name: name.clone(),
                    include: include.clone(),
                    exclude: exclude.clone(),
                }),
                _ => None,
            })
            .collect();
        let base_history = resolver.base_history(&compiled.history);
        Ok(Prepare::Ready {
            session: Session {
                compiled,
                names,
                labels: req.labels,
                no_cache,
                base_history,
                dockerfile_name: req.dockerfile_name,
                dockerfile,
                secrets,
                squash: req.squash,
                epoch: req.source_date_epoch,
                outputs,
                explain: req.explain,
                identity: req.identity,
                upload_sources,
                annotations,
                load: req.load,
            },
            warnings,
            sources,
        })
    }
}

#[async_trait]
impl BuildBackend for KilnBackend {
    type Session = Session;

    fn prepare(&self, req: BuildRequest) -> Result<Prepare<Session>, ErrorBody> {
        self.compile(req).map_err(error)
    }

    async fn solve(
        &self,
        s: Session,
        context: PathBuf,
        outputs_dir: PathBuf,
        sink: LineSink,
        cancel: CancellationToken,
    ) -> Control {
        let started = std::time::Instant::now();
        let lease = match store::BuildLease::new(self.store.clone()) {
            Ok(l) => l,
            Err(e) => return exit_error(e),
        };
        let mut step_logs = match logs::StepLogs::new(self.store.root(), None) {
            Ok(l) => l,
            Err(e) => return exit_error(e),
        };
        sink.logs(step_logs.dir().display().to_string());
        let graph = Arc::new(s.compiled.graph.clone());
        let explainer = explain::Explainer::new(
            self.store.root(),
            &s.identity,
            &s.dockerfile,
            graph.clone(),
            s.no_cache.clone(),
        );
        let locals = match named::upload_locals(&context, &s.upload_sources) {
            Ok(l) => l,
            Err(e) => return exit_error(e),
        };
        let worker = LocalWorker::new(
            self.store.clone(),
            Executor::new(self.executor.clone()),
            locals,
            s.compiled.proxy_env.clone(),
        )
        .with_lease(lease.lease.clone())
        .with_graph_hints(&s.compiled.graph)
        .with_run_extras(RunExtras {
            secrets: Arc::new(s.secrets.clone()),
            on_failure: None,
        })
        .with_key_observer(explainer.observer());
        let solver = self.solver.sibling(worker);
        let (progress, mut rx) = Progress::channel();
        let relay_sink = sink.clone();
        let follow = explainer.clone();
        // As in-process: every step's full log on disk, and each step that runs followed
        // by why it missed the cache.
        let relay = tokio::task::spawn_blocking(move || {
            while let Some(ev) = rx.blocking_recv() {
                step_logs.event(&ev);
                let why = follow.follow(&ev);
                relay_sink.event(ev);
                if let Some(x) = why {
                    step_logs.event(&x);
                    relay_sink.event(x);
                }
            }
        });
        let result = solver
            .solve(SolveRequest {
                graph: graph.clone(),
                root: s.compiled.root.clone(),
                no_cache: s.no_cache.clone(),
                progress,
                cancel,
            })
            .await;
        let _ = relay.await;
        let solution = match result {
            Ok(sol) => sol,
            Err(e) => return report_failure(&self.store, &solver, &s, &e, &sink),
        };
        let store = self.store.clone();
        let written = tokio::task::spawn_blocking(move || {
            let Output::Chain(chain) = &solution.output else {
                anyhow::bail!(
                    "internal error: the build's result is the build context, not a filesystem"
                );
            };
            let mut config = s.compiled.config.clone();
            for l in &s.labels {
                let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
                config.labels.insert(k.to_string(), v.to_string());
            }
            // --squash, SOURCE_DATE_EPOCH and the outputs' compression, as in-process.
            let finished = finish::finish(
                &store,
                Some(&lease.lease),
                &graph,
                chain,
                s.squash,
                &s.outputs,
                s.epoch,
            )?;
            let meta = ImageMeta {
                config,
                history: finished.history(&s.compiled.history),
                platform: s.compiled.platform.clone(),
                created: s.epoch.unwrap_or_else(now_secs),
                source_date_epoch: s.epoch,
                base_history: s.base_history.clone(),
            };
            // Tags only when the image is the build's only product or --load asks, as
            // in-process.
            let tag_names: &[Reference] = if s.load || s.outputs.iter().all(OutputSpec::is_image) {
                &s.names
            } else {
                &[]
            };
            let image = write_image(&store, &finished.chain, &meta, tag_names)?;
            let image = annotate::annotate(&store, &image, &s.annotations, tag_names)?;
            let written = super::outputs::Written {
                finished: &finished,
                image: &image,
                meta: &meta,
                names: &s.names,
                lease: &lease.lease,
            };
            let outputs = super::outputs::write(&store, &written, &s.outputs, &outputs_dir)?;
            store::record_keys(&store, &solution.keys);
            explainer.save();
            if s.explain {
                sink.stderr(explainer.report(&solution.ran));
            }
            drop(lease);
            Ok(BuildResult {
                image_id: image.config_digest.to_string(),
                manifest_digest: image.manifest_digest.to_string(),
                tags: tag_names.iter().map(|n| n.to_string()).collect(),
                steps_ran: solution.ran.len(),
                steps_cached: solution.cached.len(),
                seconds: started.elapsed().as_secs_f64(),
                outputs,
            })
        })
        .await;
        match written {
            Ok(Ok(result)) => Control::Result { result },
            Ok(Err(e)) => exit_error(e),
            Err(e) => exit_error(anyhow::anyhow!("internal error: writing the image: {e}")),
        }
    }
}

fn exit_error(e: anyhow::Error) -> Control {
    Control::Exit {
        exit_code: crate::exit::KILN_ERROR,
        error: Some(error(e)),
    }
}

/// The in-process build's failure report, as stream lines: the error, the Dockerfile
/// excerpt, and the last good state kept as an image.
fn report_failure(
    store: &Store,
    solver: &Solver<LocalWorker>,
    s: &Session,
    e: &SolveError,
    sink: &LineSink,
) -> Control {
    sink.stderr(format!("ERROR: failed to solve: {e}"));
    let exit = Control::Exit {
        exit_code: BUILD_FAILED,
        error: None,
    };
    let SolveError::Step { vertex, .. } = e else {
        return exit;
    };
    let graph = &s.compiled.graph;
    if let Some(v) = graph.get(vertex) {
        if let Some(x) = failure::excerpt(&s.dockerfile_name, &s.dockerfile, &v.origin) {
            sink.stderr(x);
        }
    }
    let last_good =
        failure::failed_input(graph, vertex).and_then(|d| solver.worker().result_of(&d));
    if let Some(chain) = last_good {
        let mut config = s.compiled.config.clone();
        config.user.clear();
        config.entrypoint = None;
        config.cmd = Some(vec!["sh".into()]);
        let meta = ImageMeta {
            config,
            history: Vec::new(),
            platform: s.compiled.platform.clone(),
            created: now_secs(),
            source_date_epoch: None,
            base_history: Vec::new(),
        };
        match write_image(store, &chain, &meta, &[]) {
            Ok(img) => sink.stderr(format!(
                "the state before the failing step is image {}; start a shell in it with: kiln run -it --rm {} sh",
                img.config_digest,
                img.config_digest.short()
            )),
            Err(err) => tracing::warn!("storing the last good state as an image: {err}"),
        }
    }
    exit
}
