//! Scheduling properties of the solver, driven by a small in-memory worker whose "result"
//! of a step is a string built from its inputs, with an in-memory cache. The real worker
//! (store + executor) is tested end to end by the build tests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use kiln_frontend::graph::*;
use kiln_solver::*;
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct StringWorker {
    cache: Mutex<HashMap<CacheKey, String>>,
    runs: Mutex<Vec<(Digest, Instant, Instant)>>,
    loads: AtomicUsize,
    /// Content key per image reference: changing it must change downstream keys.
    image_versions: Mutex<HashMap<String, String>>,
}

fn args_of(v: &Vertex) -> Vec<String> {
    match &v.op {
        Op::Exec(e) => e.args.clone(),
        _ => vec![],
    }
}

#[async_trait]
impl Worker for StringWorker {
    type Output = String;

    async fn content_key(
        &self,
        v: &Vertex,
        _: &StepContext,
    ) -> Result<Option<String>, WorkerError> {
        Ok(match &v.op {
            Op::Source(Source::Image { reference, .. }) => {
                self.image_versions.lock().unwrap().get(reference).cloned()
            }
            _ => None,
        })
    }

    async fn load(&self, _: &Vertex, key: &CacheKey) -> Result<Option<String>, WorkerError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        Ok(self.cache.lock().unwrap().get(key).cloned())
    }

    async fn run(
        &self,
        v: &Vertex,
        key: &CacheKey,
        inputs: Vec<String>,
        ctx: &StepContext,
    ) -> Result<String, WorkerError> {
        let start = Instant::now();
        let args = args_of(v);
        if let Some(ms) = args.first().and_then(|a| a.strip_prefix("sleep:")) {
            let ms: u64 = ms.parse().map_err(|_| WorkerError::new("bad sleep"))?;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
                _ = ctx.cancel.cancelled() => return Err(WorkerError::new("cancelled")),
            }
        }
        if args.first().map(String::as_str) == Some("fail") {
            let mut e = WorkerError::new("process exited with code 3");
            e.exit_code = Some(3);
            return Err(e);
        }
        ctx.log(Stream::Stdout, b"ran\n");
        let out = format!("{}({})", args.join(" "), inputs.join(","));
        self.cache.lock().unwrap().insert(key.clone(), out.clone());
        self.runs
            .lock()
            .unwrap()
            .push((v.digest.clone(), start, Instant::now()));
        Ok(out)
    }
}

fn image(g: &mut Graph, r: &str) -> Digest {
    let op = Op::Source(Source::Image {
        reference: r.into(),
        platform: Platform::new("linux", "amd64", None),
    });
    g.add(op, vec![], Origin::default()).unwrap()
}

fn exec(g: &mut Graph, args: &[&str], inputs: Vec<Digest>) -> Digest {
    let op = Op::Exec(Exec {
        args: args.iter().map(|s| s.to_string()).collect(),
        env: vec![],
        cwd: "/".into(),
        user: None,
        network: NetworkMode::Default,
        security: SecurityMode::Sandbox,
        mounts: vec![],
        settings: Default::default(),
    });
    let origin = Origin {
        description: format!("RUN {}", args.join(" ")),
        ..Origin::default()
    };
    g.add(op, inputs, origin).unwrap()
}

fn request(g: &Graph, root: &Digest) -> SolveRequest {
    SolveRequest {
        graph: Arc::new(g.clone()),
        root: root.clone(),
        no_cache: NoCache::Off,
        progress: Progress::discard(),
        cancel: CancellationToken::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_input_runs_once_and_result_combines_inputs() {
    let mut g = Graph::new();
    let base = image(&mut g, "busybox");
    let a = exec(&mut g, &["a"], vec![base.clone()]);
    let b = exec(&mut g, &["b"], vec![base.clone()]);
    let both = exec(&mut g, &["merge"], vec![a.clone(), b.clone()]);
    let solver = Solver::new(StringWorker::default(), 4);
    let sol = solver.solve(request(&g, &both)).await.unwrap();
    assert_eq!(sol.output, "merge(a(()),b(()))");
    assert_eq!(sol.ran.len(), 4);
    assert_eq!(solver.worker().runs.lock().unwrap().len(), 4);
    assert_eq!(sol.keys.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_root_does_not_touch_its_inputs() {
    let mut g = Graph::new();
    let base = image(&mut g, "busybox");
    let a = exec(&mut g, &["a"], vec![base]);
    let root = exec(&mut g, &["b"], vec![a]);
    let solver = Solver::new(StringWorker::default(), 2);
    solver.solve(request(&g, &root)).await.unwrap();
    let loads_before = solver.worker().loads.load(Ordering::SeqCst);
    let sol = solver.solve(request(&g, &root)).await.unwrap();
    assert!(sol.ran.is_empty());
    assert_eq!(sol.cached.len(), 1, "only the root is consulted");
    assert_eq!(
        solver.worker().loads.load(Ordering::SeqCst) - loads_before,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_content_key_reruns_only_what_depends_on_it() {
    let mut g = Graph::new();
    let base = image(&mut g, "busybox");
    let other = image(&mut g, "alpine");
    let a = exec(&mut g, &["a"], vec![base]);
    let b = exec(&mut g, &["b"], vec![other]);
    let root = exec(&mut g, &["c"], vec![a.clone(), b.clone()]);
    let solver = Solver::new(StringWorker::default(), 2);
    solver.solve(request(&g, &root)).await.unwrap();
    solver
        .worker()
        .image_versions
        .lock()
        .unwrap()
        .insert("docker.io/library/alpine".into(), "sha256:new".into());
    // Content keys are looked up by reference; this graph's reference is "alpine".
    solver
        .worker()
        .image_versions
        .lock()
        .unwrap()
        .insert("alpine".into(), "sha256:new".into());
    let sol = solver.solve(request(&g, &root)).await.unwrap();
    assert!(sol.ran.contains(&b) && sol.ran.contains(&root));
    assert!(!sol.ran.contains(&a));
    assert!(sol.cached.contains(&a));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_steps_overlap() {
    let mut g = Graph::new();
    let base = image(&mut g, "busybox");
    let a = exec(&mut g, &["sleep:300", "a"], vec![base.clone()]);
    let b = exec(&mut g, &["sleep:300", "b"], vec![base]);
    let root = exec(&mut g, &["join"], vec![a.clone(), b.clone()]);
    let solver = Solver::new(StringWorker::default(), 2);
    solver.solve(request(&g, &root)).await.unwrap();
    let runs = solver.worker().runs.lock().unwrap().clone();
    let span = |d: &Digest| runs.iter().find(|r| &r.0 == d).map(|r| (r.1, r.2)).unwrap();
    let (sa, ea) = span(&a);
    let (sb, eb) = span(&b);
    assert!(sa < eb && sb < ea, "the two sleeps ran one after the other");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_limit_serialises_steps() {
    let mut g = Graph::new();
    let base = image(&mut g, "busybox");
    let a = exec(&mut g, &["sleep:100", "a"], vec![base.clone()]);
    let b = exec(&mut g, &["sleep:100", "b"], vec![base]);
    let root = exec(&mut g, &["join"], vec![a.clone(), b.clone()]);
    let solver = Solver::new(StringWorker::default(), 1);
    solver.solve(request(&g, &root)).await.unwrap();
    let runs = solver.worker().runs.lock().unwrap().clone();
    let span = |d: &Digest| runs.iter().find(|r| &r.0 == d).map(|r| (r.1, r.2)).unwrap();
    let (sa, ea) = span(&a);
    let (sb, eb) = span(&b);
    assert!(ea <= sb || eb <= sa, "with --jobs 1 the steps overlapped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_solves_share_a_running_step() {
    let mut g = Graph::new();
    let base = image(&mut g, "busybox");
    let slow = exec(&mut g, &["sleep:300", "slow"], vec![base]);
    let solver = Arc::new(Solver::new(StringWorker::default(), 4));
    let (p1, mut rx1) = Progress::channel();
    let (p2, mut rx2) = Progress::channel();
    let mut r1 = request(&g, &slow);
    r1.progress = p1;
    let mut r2 = request(&g, &slow);
    r2.progress = p2;
    let (s1, s2) = tokio::join!(solver.solve(r1), solver.solve(r2));
    assert_eq!(s1.unwrap().output, s2.unwrap().output);
    let runs = solver.worker().runs.lock().unwrap().clone();
    assert_eq!(runs.iter().filter(|r| r.0 == slow).count(), 1);
    let mut shared = 0;
    for rx in [&mut rx1, &mut rx2] {
        while let Ok(ev) = rx.try_recv() {
            if matches!(ev, Event::Shared { .. }) {
                shared += 1;
            }
        }
    }
    // The slow step, and possibly the base image, were shared by the second solve.
    assert!(shared >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_names_the_step_and_keeps_exit_code() {
    let mut g = Graph::new();
    let base = image(&mut g, "busybox");
    let bad = exec(&mut g, &["fail"], vec![base]);
    let root = exec(&mut g, &["after"], vec![bad]);
    let solver = Solver::new(StringWorker::default(), 2);
    let (progress, mut rx) = Progress::channel();
    let mut req = request(&g, &root);
    req.progress = progress;
    let err = solver.solve(req).await.unwrap_err();
    assert_eq!(err.exit_code(), Some(3));
    assert!(err.to_string().starts_with("RUN fail:"), "{err}");
    let mut saw_error = false;
    while let Ok(ev) = rx.try_recv() {
        if let Event::Completed { error: Some(_), .. } = ev {
            saw_error = true;
        }
    }
    assert!(saw_error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_stops_running_steps() {
    let mut g = Graph::new();
    let base = image(&mut g, "busybox");
    let slow = exec(&mut g, &["sleep:30000", "slow"], vec![base]);
    let solver = Solver::new(StringWorker::default(), 2);
    let req = request(&g, &slow);
    let cancel = req.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        cancel.cancel();
    });
    let start = Instant::now();
    let err = solver.solve(req).await.unwrap_err();
    assert!(matches!(*err, SolveError::Cancelled), "{err}");
    assert!(start.elapsed() < Duration::from_secs(20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_cache_reruns_everything() {
    let mut g = Graph::new();
    let base = image(&mut g, "busybox");
    let root = exec(&mut g, &["a"], vec![base]);
    let solver = Solver::new(StringWorker::default(), 2);
    solver.solve(request(&g, &root)).await.unwrap();
    let mut req = request(&g, &root);
    req.no_cache = NoCache::All;
    let sol = solver.solve(req).await.unwrap();
    assert_eq!(sol.ran.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retagged_base_image_hits_the_cache() {
    let worker = StringWorker::default();
    for name in ["busybox:latest", "busybox:1.35"] {
        worker
            .image_versions
            .lock()
            .unwrap()
            .insert(name.into(), "sha256:one-manifest".into());
    }
    let solver = Solver::new(worker, 2);
    let mut g1 = Graph::new();
    let base1 = image(&mut g1, "busybox:latest");
    let root1 = exec(&mut g1, &["a"], vec![base1]);
    solver.solve(request(&g1, &root1)).await.unwrap();
    let mut g2 = Graph::new();
    let base2 = image(&mut g2, "busybox:1.35");
    let root2 = exec(&mut g2, &["a"], vec![base2]);
    assert_ne!(root1, root2, "different definitions");
    let sol = solver.solve(request(&g2, &root2)).await.unwrap();
    assert!(
        sol.ran.is_empty(),
        "the same manifest under another name re-ran: {:?}",
        sol.ran
    );
    // A different manifest under the same name misses.
    solver
        .worker()
        .image_versions
        .lock()
        .unwrap()
        .insert("busybox:1.35".into(), "sha256:other".into());
    let sol = solver.solve(request(&g2, &root2)).await.unwrap();
    assert!(sol.ran.contains(&root2));
}
