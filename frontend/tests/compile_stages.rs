//! Stage resolution: targets, stage names and indexes in FROM / COPY --from / RUN
//! --mount=from=, cycles, ambiguous names, platforms and proxies.

use std::collections::BTreeMap;

use kiln_frontend::compile::{compile, CompileError, CompileOptions, Compiled, NoImages};
use kiln_frontend::graph::{Op, Platform, Source};

fn run(src: &str, opts: &CompileOptions) -> Result<Compiled, CompileError> {
    compile("Dockerfile", src.as_bytes(), opts, &NoImages)
}

fn ok(src: &str) -> Compiled {
    run(src, &CompileOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn err(src: &str, opts: &CompileOptions) -> String {
    match run(src, opts) {
        Ok(_) => panic!("expected an error for {src:?}"),
        Err(e) => e.to_string(),
    }
}

/// The environment of the first RUN in the graph.
fn first_exec_env(c: &Compiled) -> Vec<String> {
    c.graph
        .vertices()
        .find_map(|v| match &v.op {
            Op::Exec(e) => Some(e.env.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no RUN in the graph"))
}

fn images(c: &Compiled) -> Vec<(String, String)> {
    c.graph
        .vertices()
        .filter_map(|v| match &v.op {
            Op::Source(Source::Image {
                reference,
                platform,
            }) => Some((reference.clone(), platform.to_string())),
            _ => None,
        })
        .collect()
}

const MULTI: &str = "FROM alpine AS build\nRUN make\nFROM busybox AS test\nRUN test\nFROM debian\nCOPY --from=build /out /out\n";

#[test]
fn target_selects_the_final_stage() {
    let last = ok(MULTI);
    assert_eq!(
        images(&last)
            .iter()
            .map(|i| i.0.as_str())
            .collect::<Vec<_>>(),
        [
            "docker.io/library/alpine:latest",
            "docker.io/library/debian:latest"
        ]
    );
    let opts = CompileOptions {
        target: Some("TEST".into()),
        ..CompileOptions::default()
    };
    let test = run(MULTI, &opts).unwrap();
    assert_eq!(images(&test)[0].0, "docker.io/library/busybox:latest");
    assert_eq!(test.graph.len(), 2);
}

#[test]
fn unknown_target_lists_the_stages() {
    let opts = CompileOptions {
        target: Some("tset".into()),
        ..CompileOptions::default()
    };
    let e = err(MULTI, &opts);
    assert!(
        e.contains("target stage \"tset\" could not be found (did you mean test?)"),
        "{e}"
    );
    assert!(e.contains("the stages are: build, test"), "{e}");
}

#[test]
fn copy_from_by_index_and_image() {
    let c = ok("FROM alpine\nRUN make\nFROM scratch\nCOPY --from=0 /a /a\nCOPY --from=nginx:1.27 /etc/nginx /etc/nginx\n");
    assert!(c
        .graph
        .vertices()
        .any(|v| matches!(&v.op, Op::Exec(e) if e.args[2] == "make")));
    assert!(images(&c)
        .iter()
        .any(|i| i.0 == "docker.io/library/nginx:1.27"));
    let e = err(
        "FROM alpine\nFROM scratch\nCOPY --from=7 /a /a\n",
        &CompileOptions::default(),
    );
    assert!(
        e.contains("invalid stage index 7") && e.contains("Dockerfile:3:"),
        "{e}"
    );
    let e = err(
        "ARG S=x\nFROM alpine\nCOPY --from=$S /a /a\n",
        &CompileOptions::default(),
    );
    assert!(
        e.contains("variable expansion is not supported for --from"),
        "{e}"
    );
}

#[test]
fn cycles_and_forward_references_are_errors_with_lines() {
    let e = err(
        "FROM alpine AS a\nCOPY --from=b /x /x\nFROM alpine AS b\nCOPY --from=a /y /y\n",
        &CompileOptions::default(),
    );
    assert!(
        e.contains("circular dependency detected on stage: a"),
        "{e}"
    );
    assert!(e.contains("Dockerfile:2:"), "{e}");
    let e = err(
        "FROM alpine AS a\nCOPY --from=b /x /x\nFROM alpine AS b\nRUN true\n",
        &CompileOptions {
            target: Some("a".into()),
            ..CompileOptions::default()
        },
    );
    assert!(
        e.contains(
            "cannot copy from stage \"b\", it needs to be defined before current stage \"a\""
        ),
        "{e}"
    );
    let e = err(
        "FROM alpine AS a\nRUN --mount=from=b,target=/m true\nFROM alpine AS b\n",
        &CompileOptions {
            target: Some("a".into()),
            ..CompileOptions::default()
        },
    );
    assert!(e.contains("needs to be defined before"), "{e}");
}

#[test]
fn duplicate_stage_names_are_errors_only_when_used() {
    let dup =
        "FROM alpine AS x\nRUN one\nFROM alpine AS x\nRUN two\nFROM scratch\nCOPY --from=x /a /a\n";
    let e = err(dup, &CompileOptions::default());
    assert!(
        e.contains("stage name \"x\" is ambiguous: stages at lines 1 and 3"),
        "{e}"
    );
    assert!(e.contains("Dockerfile:6:"), "{e}");
    let unused = ok("FROM alpine AS x\nRUN one\nFROM alpine AS x\nRUN two\nFROM scratch\n");
    assert!(unused
        .warnings
        .iter()
        .any(|w| w.rule.name() == "DuplicateStageName"));
}

#[test]
fn from_a_stage_and_later_names_are_images() {
    // FROM resolves only stages defined before it; a later name is an image.
    let c = ok("FROM later AS first\nFROM alpine AS later\nFROM first\n");
    assert!(images(&c)
        .iter()
        .any(|i| i.0 == "docker.io/library/later:latest"));
    let e = err("ARG IMG\nFROM $IMG\n", &CompileOptions::default());
    assert!(e.contains("base name ($IMG) should not be blank"), "{e}");
    let e = err("FROM Alpine\n", &CompileOptions::default());
    assert!(e.contains("must be lowercase"), "{e}");
}

#[test]
fn platforms_and_platform_args() {
    let src = "FROM --platform=$BUILDPLATFORM golang AS build\nARG TARGETOS TARGETARCH BUILDARCH\nRUN echo $TARGETOS/$TARGETARCH from $BUILDARCH\nFROM alpine\nCOPY --from=build /bin/app /app\n";
    let opts = CompileOptions {
        target_platform: Some(Platform::new("linux", "arm64", None)),
        build_platform: Some(Platform::new("linux", "amd64", None)),
        ..CompileOptions::default()
    };
    let c = run(src, &opts).unwrap();
    let imgs = images(&c);
    assert!(
        imgs.contains(&(
            "docker.io/library/golang:latest".into(),
            "linux/amd64".into()
        )),
        "{imgs:?}"
    );
    assert!(
        imgs.contains(&(
            "docker.io/library/alpine:latest".into(),
            "linux/arm64".into()
        )),
        "{imgs:?}"
    );
    assert_eq!(c.platform.to_string(), "linux/arm64");
    let env = first_exec_env(&c);
    assert!(
        env.contains(&"TARGETARCH=arm64".to_string())
            && env.contains(&"BUILDARCH=amd64".to_string()),
        "{env:?}"
    );
    let e = err(
        "FROM --platform=linux/ alpine\n",
        &CompileOptions::default(),
    );
    assert!(e.contains("failed to parse platform"), "{e}");
}

#[test]
fn proxy_args_reach_run_but_not_the_graph() {
    let src = "FROM alpine\nRUN wget http://example.com\n";
    let plain = ok(src);
    let mut build_args = BTreeMap::new();
    build_args.insert("HTTP_PROXY".to_string(), "http://proxy:3128".to_string());
    let proxied = run(
        src,
        &CompileOptions {
            build_args,
            ..CompileOptions::default()
        },
    )
    .unwrap();
    assert_eq!(proxied.root, plain.root);
    assert_eq!(proxied.proxy_env, ["HTTP_PROXY=http://proxy:3128"]);
    // Even declared, a proxy ARG stays out of the RUN env and history.
    let declared = run(
        "FROM alpine\nARG HTTP_PROXY\nRUN wget x\n",
        &CompileOptions {
            build_args: proxied_args(),
            ..CompileOptions::default()
        },
    )
    .unwrap();
    assert!(declared
        .history
        .iter()
        .all(|h| !h.created_by.contains("proxy:3128")));
    let env = first_exec_env(&declared);
    assert!(
        env.iter().all(|kv| !kv.starts_with("HTTP_PROXY")),
        "{env:?}"
    );
}

fn proxied_args() -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    m.insert("HTTP_PROXY".to_string(), "http://proxy:3128".to_string());
    m
}

#[test]
fn lint_error_directive_fails_the_build() {
    let e = run(
        "# check=error=true\nFROM alpine as x\n",
        &CompileOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, CompileError::LintViolation { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("lint violation found for rules: FromAsCasing"),
        "{e}"
    );
    let e = run(
        "# check=nonsense\nFROM alpine\n",
        &CompileOptions::default(),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("failed to parse check options"),
        "{e}"
    );
}

#[test]
fn bad_input_never_panics() {
    for src in [
        "",
        "\0",
        "FROM",
        "FROM a\nCOPY",
        "FROM a\nRUN --mount=type=bind,target=/ true\n",
        "FROM a\nEXPOSE 99999\n",
        "FROM a\nSTOPSIGNAL NOPE\n",
        "FROM a\nWORKDIR ${X:?unset}\n",
        "ONBUILD RUN x\n",
    ] {
        assert!(
            run(src, &CompileOptions::default()).is_err(),
            "{src:?} should fail"
        );
    }
}
