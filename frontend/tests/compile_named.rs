//! Named contexts (`--build-context`) and the build-wide RUN settings (`--network`,
//! `--add-host`, `--ulimit`, `--shm-size`) as the compiler sees them.

use kiln_frontend::compile::{compile, CompileOptions, Compiled, NamedContext, NoImages};
use kiln_frontend::graph::{
    Exec, FileAction, HostEntry, NetworkMode, Op, RunSettings, Source, Ulimit,
};

fn build(src: &str, opts: &CompileOptions) -> Compiled {
    compile("Dockerfile", src.as_bytes(), opts, &NoImages).unwrap_or_else(|e| panic!("{e}"))
}

fn named(pairs: &[(&str, NamedContext)]) -> CompileOptions {
    CompileOptions {
        named_contexts: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        ..CompileOptions::default()
    }
}

fn locals(c: &Compiled) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<_> = c
        .graph
        .vertices()
        .filter_map(|v| match &v.op {
            Op::Source(Source::Local { name, include, .. }) => {
                Some((name.clone(), include.clone()))
            }
            _ => None,
        })
        .collect();
    out.sort();
    out
}

fn images(c: &Compiled) -> Vec<String> {
    c.graph
        .vertices()
        .filter_map(|v| match &v.op {
            Op::Source(Source::Image { reference, .. }) => Some(reference.clone()),
            _ => None,
        })
        .collect()
}

fn execs(c: &Compiled) -> Vec<Exec> {
    c.graph
        .vertices()
        .filter_map(|v| match &v.op {
            Op::Exec(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn copy_and_mount_from_a_local_named_context_read_only_their_paths() {
    let src = "FROM busybox\nCOPY --from=docs a.txt /a\nRUN --mount=from=docs,source=sub,target=/m cat /m/x\nCOPY b.txt /b\n";
    let c = build(
        src,
        &named(&[("docs", NamedContext::Local { exclude: vec![] })]),
    );
    assert_eq!(
        locals(&c),
        [
            ("context".to_string(), vec!["b.txt".to_string()]),
            ("context:docs".to_string(), vec!["a.txt".to_string()]),
            ("context:docs".to_string(), vec!["sub".to_string()]),
        ]
    );
    // Without the named context, `docs` is an image.
    let plain = build(src, &CompileOptions::default());
    assert!(images(&plain).contains(&"docker.io/library/docs:latest".to_string()));
    assert_eq!(locals(&plain).len(), 1);
}

#[test]
fn from_a_local_named_context_copies_it_onto_scratch() {
    let exclude = vec!["*.log".to_string()];
    let c = build(
        "FROM tree\nRUN ls\n",
        &named(&[(
            "tree",
            NamedContext::Local {
                exclude: exclude.clone(),
            },
        )]),
    );
    assert!(images(&c).is_empty(), "{:?}", images(&c));
    assert_eq!(locals(&c), [("context:tree".to_string(), vec![])]);
    let excluded = c
        .graph
        .vertices()
        .any(|v| matches!(&v.op, Op::Source(Source::Local { exclude: e, .. }) if *e == exclude));
    assert!(
        excluded,
        "the context's .dockerignore patterns reach its source"
    );
    let copies_everything = c.graph.vertices().any(|v| match &v.op {
        Op::File(f) => {
            matches!(&f.actions[..], [FileAction::Copy(cp)] if cp.src == "/" && cp.dest == "/")
        }
        _ => false,
    });
    assert!(copies_everything);
}

#[test]
fn docker_image_context_replaces_images_by_name_or_reference_and_stages_by_name() {
    let opts = named(&[
        ("base", NamedContext::Image("busybox:1.36".into())),
        (
            "alpine",
            NamedContext::Image("docker.io/library/debian:12".into()),
        ),
        ("deps", NamedContext::Image("busybox:1.35".into())),
    ]);
    let src = "FROM alpine:latest AS deps\nRUN exit 1\nFROM base\nCOPY --from=deps /bin/sh /sh\n";
    let c = build(src, &opts);
    let mut got = images(&c);
    got.sort();
    // `deps` (a stage) is replaced whole: its RUN is gone, and `alpine` is never used.
    assert_eq!(
        got,
        [
            "docker.io/library/busybox:1.35",
            "docker.io/library/busybox:1.36"
        ]
    );
    assert!(execs(&c).is_empty());
    // `alpine:latest` matches the context `alpine` once both are normalised.
    let c = build("FROM alpine:latest\n", &opts);
    assert_eq!(images(&c), ["docker.io/library/debian:12"]);
}

#[test]
fn invalid_docker_image_reference_is_a_compile_error() {
    let opts = named(&[("base", NamedContext::Image("Not A Ref".into()))]);
    let e = compile("Dockerfile", b"FROM base\n", &opts, &NoImages)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("--build-context base=docker-image://Not A Ref"),
        "{e}"
    );
}

#[test]
fn build_network_and_settings_reach_every_run_but_run_network_wins() {
    let settings = RunSettings {
        extra_hosts: vec![HostEntry {
            name: "db".into(),
            address: "10.0.0.7".into(),
        }],
        ulimits: vec![Ulimit {
            name: "nofile".into(),
            soft: 512,
            hard: 1024,
        }],
        shm_size: Some(1 << 20),
    };
    let opts = CompileOptions {
        run_network: NetworkMode::None,
        run_settings: settings.clone(),
        ..CompileOptions::default()
    };
    let c = build(
        "FROM busybox\nRUN a\nRUN --network=host b\nRUN --network=default c\n",
        &opts,
    );
    let mut got: Vec<(String, NetworkMode)> = execs(&c)
        .iter()
        .map(|e| {
            assert_eq!(e.settings, settings);
            (e.args.join(" "), e.network)
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        [
            ("/bin/sh -c a".to_string(), NetworkMode::None),
            ("/bin/sh -c b".to_string(), NetworkMode::Host),
            ("/bin/sh -c c".to_string(), NetworkMode::None),
        ]
    );
    // Unset settings leave the digests of every graph as they were.
    let before = build("FROM busybox\nRUN a\n", &CompileOptions::default());
    let json = serde_json::to_string(&execs(&before)[0]).unwrap_or_default();
    assert!(!json.contains("settings"), "{json}");
}
