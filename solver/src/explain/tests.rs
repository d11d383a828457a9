use super::causes::{env_causes, file_causes};
use super::*;
use crate::cachekey::KeyRecord;
use kiln_frontend::graph::{Digest, Exec, NetworkMode, Origin, Platform, SecurityMode};

fn origin(desc: &str) -> Origin {
    Origin {
        stage: "0".into(),
        start_line: 1,
        end_line: 1,
        description: desc.into(),
    }
}

fn exec(cmd: &str, env: &[&str]) -> Op {
    Op::Exec(Exec {
        args: vec!["/bin/sh".into(), "-c".into(), cmd.into()],
        env: env.iter().map(|s| s.to_string()).collect(),
        cwd: "/".into(),
        user: None,
        network: NetworkMode::Default,
        security: SecurityMode::Sandbox,
        mounts: vec![],
        settings: Default::default(),
    })
}

/// FROM busybox; RUN cmd (env); COPY from a context source; the record of that build with
/// keys computed as the solver does.
fn build(cmd: &str, env: &[&str], digest: &str, file: &str) -> BuildRecord {
    let mut g = Graph::new();
    let img = g
        .add(
            Op::Source(Source::Image {
                // Pinned, as the frontend writes a tag it resolved.
                reference: format!("docker.io/library/busybox:latest@{digest}"),
                platform: Platform::new("linux", "amd64", None),
            }),
            vec![],
            origin("[stage-0 1/3] FROM docker.io/library/busybox:latest"),
        )
        .unwrap();
    let run = g
        .add(
            exec(cmd, env),
            vec![img.clone()],
            origin(&format!("[stage-0 2/3] RUN {cmd}")),
        )
        .unwrap();
    let ctx = g
        .add(
            Op::Source(Source::Local {
                name: "context".into(),
                include: vec!["src".into()],
                exclude: vec![],
            }),
            vec![],
            // As the frontend makes it: the source carries its COPY's origin.
            origin("[stage-0 3/3] COPY src /src"),
        )
        .unwrap();
    let copy = g
        .add(
            Op::Merge,
            vec![run.clone(), ctx.clone()],
            origin("[stage-0 3/3] COPY src /src"),
        )
        .unwrap();
    let files = ContextFiles::default();
    let sum = format!("sha256:ctx-{file}");
    files.insert(
        &sum,
        [(
            "src/main.rs".to_string(),
            FileSum {
                meta: "File 644".into(),
                content: file.into(),
            },
        )]
        .into(),
    );
    let k_img = KeyRecord::compute(
        img.clone(),
        Digest::of_bytes(b"img"),
        vec![],
        Some(digest.into()),
    );
    let k_run = KeyRecord::compute(
        run.clone(),
        g.get(&run).unwrap().op_digest(),
        vec![k_img.key.clone()],
        None,
    );
    let k_ctx = KeyRecord::compute(ctx.clone(), Digest::of_bytes(b"ctx"), vec![], Some(sum));
    let k_copy = KeyRecord::compute(
        copy.clone(),
        Digest::of_bytes(b"copy"),
        vec![k_run.key.clone(), k_ctx.key.clone()],
        None,
    );
    FILES.with(|f| {
        let mut f = f.borrow_mut();
        for (k, v) in files.0.lock().unwrap().iter() {
            f.insert(k.clone(), v.clone());
        }
    });
    BuildRecord::of(&g, &[k_img, k_run, k_ctx, k_copy])
}

thread_local! {
    /// The file lists of every build a test made, as a store would keep them.
    static FILES: std::cell::RefCell<HashMap<String, BTreeMap<String, FileSum>>> =
        Default::default();
}

fn why(prev: &BuildRecord, cur: &BuildRecord, id: &str) -> Vec<String> {
    let args: BTreeSet<String> = ["VERSION".to_string()].into();
    let lists = |c: &str| FILES.with(|f| f.borrow().get(c).cloned());
    explain(prev, cur, id, &args, &lists)
        .iter()
        .map(|c| c.to_string())
        .collect()
}

#[test]
fn names_the_one_input_that_changed() {
    let base = build("make", &["VERSION=1.2"], "sha256:aaa", "h1");
    // A context file.
    let edited = build("make", &["VERSION=1.2"], "sha256:aaa", "h2");
    assert_eq!(
        why(&base, &edited, "stage-0 3"),
        ["file src/main.rs changed (content)"]
    );
    assert_eq!(
        why(&base, &edited, "stage-0 2"),
        [Cause::CacheGone.to_string()]
    );
    // An ARG in use: the RUN names it, the COPY after it names the RUN.
    let arg = build("make", &["VERSION=1.3"], "sha256:aaa", "h1");
    assert_eq!(why(&base, &arg, "stage-0 2"), ["ARG VERSION 1.2 → 1.3"]);
    assert_eq!(
        why(&base, &arg, "stage-0 3"),
        ["previous step re-ran (RUN make)"]
    );
    // The base image.
    let rebased = build("make", &["VERSION=1.2"], "sha256:bbb", "h1");
    let w = why(&base, &rebased, "stage-0 2");
    assert_eq!(w.len(), 1);
    assert!(
        w[0].starts_with("base image docker.io/library/busybox:latest digest changed"),
        "{w:?}"
    );
    // The step's text.
    let text = build("make all", &["VERSION=1.2"], "sha256:aaa", "h1");
    assert_eq!(
        why(&base, &text, "stage-0 2"),
        ["step text changed: RUN make → RUN make all"]
    );
    // Nothing earlier to compare with.
    assert_eq!(
        why(&BuildRecord::default(), &base, "stage-0 2"),
        [Cause::NoEarlierBuild.to_string()]
    );
}

#[test]
fn records_round_trip_through_json() {
    let r = build("make", &["VERSION=1.2", "HOME=/root"], "sha256:aaa", "h1");
    let back: BuildRecord = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
    assert_eq!(back, r);
    assert_eq!(r.steps.len(), 3, "{:?}", r.steps.keys());
}

#[test]
fn env_that_is_not_an_arg_is_reported_as_env_and_many_files_are_summed_up() {
    let causes = env_causes(
        &["A=1".into(), "B=2".into()],
        &["A=1".into(), "C=3".into()],
        &BTreeSet::new(),
    );
    let text: Vec<String> = causes.iter().map(|c| c.to_string()).collect();
    assert_eq!(text, ["ENV B 2 → (unset)", "ENV C (unset) → 3"]);
    let f = |c: &str| FileSum {
        meta: "m".into(),
        content: c.into(),
    };
    let prev: BTreeMap<String, FileSum> = (0..8).map(|i| (format!("f{i}"), f("a"))).collect();
    let cur: BTreeMap<String, FileSum> = (0..8).map(|i| (format!("f{i}"), f("b"))).collect();
    let c = file_causes(&prev, &cur);
    assert_eq!(c.len(), MAX_FILES + 1);
    assert_eq!(c.last().unwrap().to_string(), "and 3 more files changed");
}

#[test]
fn a_failed_build_updates_the_steps_it_ran_and_keeps_the_rest() {
    let base = build("make", &[], "sha256:aaa", "h1");
    let attempt = build("make all", &[], "sha256:aaa", "h2");
    let done: BTreeSet<String> = ["stage-0 1".to_string()].into();
    let after = base.after_failure(&attempt, &done, Some("stage-0 2"));
    assert_eq!(after.steps["stage-0 2"], attempt.steps["stage-0 2"]);
    assert_eq!(
        after.steps["stage-0 3"], base.steps["stage-0 3"],
        "a step the build never reached keeps its last record"
    );
    assert_eq!(after.failed, ["stage-0 2".to_string()].into());
    // The same failing step again: it failed with these inputs, nothing was pruned.
    assert_eq!(
        why(&after, &attempt, "stage-0 2"),
        [Cause::FailedBefore.to_string()]
    );
    // Explained against the attempt that last ran, not the last successful build.
    let fix = build("make all V=1", &[], "sha256:aaa", "h2");
    assert_eq!(
        why(&after, &fix, "stage-0 2"),
        ["step text changed: RUN make all → RUN make all V=1"]
    );
    // Once it completes, it is no longer marked as failed.
    let all: BTreeSet<String> = fix.steps.keys().cloned().collect();
    assert!(after.after_failure(&fix, &all, None).failed.is_empty());
    // An unknown failing step (not in this build's record) marks nothing.
    assert!(base
        .after_failure(&attempt, &done, Some("nope"))
        .failed
        .is_empty());
}
