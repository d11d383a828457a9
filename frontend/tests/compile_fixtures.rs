//! The compiler on the fixtures in `testdata/frontend/compile/`: heredocs, directives,
//! SHELL, metadata instructions (STOPSIGNAL, HEALTHCHECK, EXPOSE, …), ONBUILD, ARG
//! scoping and stage pruning. COPY/ADD sources and RUN mounts are in `compile_sources.rs`.

mod common;

use std::collections::BTreeMap;

use common::{build, build_with, execs_at, history, vertex};
use kiln_frontend::compile::{CompileOptions, Compiled};
use kiln_frontend::graph::{Exec, FileAction, Op, Source};

fn target(name: &str, stage: &str) -> Compiled {
    let opts = CompileOptions {
        target: Some(stage.into()),
        ..CompileOptions::default()
    };
    build_with(name, &opts).unwrap_or_else(|e| panic!("{name} --target {stage}: {e}"))
}

fn exec_at(c: &Compiled, line: usize) -> Exec {
    let mut all = execs_at(c, line);
    assert_eq!(all.len(), 1, "one exec at line {line}");
    all.remove(0).0
}

fn env(e: &Exec, key: &str) -> Option<String> {
    e.env
        .iter()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")).map(str::to_string))
}

#[test]
fn heredocs() {
    let c = build("heredoc.Dockerfile");
    assert_eq!(exec_at(&c, 3).args, ["/bin/sh", "-c", "echo hello\n"]);
    // A `#!` script is written to a file, mounted and executed.
    let (script, inputs) = execs_at(&c, 6).remove(0);
    assert_eq!(script.args, ["/bin/sh", "-c", "/dev/pipes/EOF"]);
    let mount = &script.mounts[0];
    assert_eq!(
        (mount.target.as_str(), mount.readonly, mount.input),
        ("/dev/pipes/", true, Some(1))
    );
    let file = vertex(&c, &inputs[1]);
    assert!(matches!(&file.op, Op::File(f) if matches!(&f.actions[0],
        FileAction::Mkfile { path, mode: 0o755, data, .. } if path == "/EOF" && data == "#!/usr/bin/env python3\nprint(\"hi\")\n")));
    // A heredoc inside a longer command goes to the shell with its body.
    assert_eq!(
        exec_at(&c, 10).args[2],
        "<<-EOT cat > /out\n\ttab-indented\nEOT"
    );
    // COPY heredocs: expanded unless the delimiter is quoted.
    let files: Vec<String> = c
        .graph
        .vertices()
        .filter_map(|v| match &v.op {
            Op::File(f) => f.actions.iter().find_map(|a| match a {
                FileAction::Mkfile {
                    data, mode: 0o644, ..
                } => Some(data.clone()),
                _ => None,
            }),
            _ => None,
        })
        .collect();
    assert_eq!(files, ["Hello world\n", "Keep $NAME\n"]);
    assert!(history(&c).contains(&"COPY <<EOF /etc/motd # buildkit".to_string()));
}

#[test]
fn directives_escape_and_check() {
    let c = build("directives.Dockerfile");
    assert_eq!(exec_at(&c, 5).args, ["/bin/sh", "-c", "echo one     two"]);
    // `# check=skip=JSONArgsRecommended` silences the shell-form CMD.
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(
        c.config.cmd.as_deref(),
        Some(
            &[
                "/bin/sh".to_string(),
                "-c".into(),
                "echo shell form is fine here".into()
            ][..]
        )
    );
}

#[test]
fn shell_instruction() {
    let c = build("shell.Dockerfile");
    assert_eq!(exec_at(&c, 2).args, ["/bin/sh", "-c", "echo default shell"]);
    assert_eq!(
        exec_at(&c, 4).args,
        ["/bin/bash", "-eo", "pipefail", "-c", "echo bash now | cat"]
    );
    assert_eq!(
        c.config.shell.as_deref().map(|s| s.join(" ")),
        Some("/bin/bash -eo pipefail -c".into())
    );
    assert_eq!(
        c.config.cmd.as_ref().map(|v| v[0].as_str()),
        Some("/bin/bash")
    );
    // ENTRYPOINT after CMD in the same stage keeps the CMD.
    assert!(c.config.cmd.is_some());
    assert!(history(&c).contains(&"SHELL [/bin/bash -eo pipefail -c]".to_string()));
}

#[test]
fn metadata_instructions() {
    let c = target("metadata.Dockerfile", "base");
    let cfg = &c.config;
    assert_eq!(cfg.env[1..], ["A=1", "B=two words", "C=1-two words"]);
    assert_eq!(
        cfg.labels.get("org.example.version").map(String::as_str),
        Some("1.0")
    );
    assert_eq!(cfg.labels.get("other").map(String::as_str), Some("1"));
    let ports: Vec<&str> = cfg.exposed_ports.keys().map(String::as_str).collect();
    assert_eq!(
        ports,
        ["53/udp", "80/tcp", "8000/tcp", "8001/tcp", "8002/tcp"]
    );
    let vols: Vec<&str> = cfg.volumes.keys().map(String::as_str).collect();
    assert_eq!(vols, ["/cache", "/data", "/logs"]);
    assert_eq!(cfg.user, "app:staff");
    assert_eq!(cfg.working_dir, "/srv/sub");
    assert_eq!(cfg.stop_signal, "SIGQUIT");
    let hc = cfg.healthcheck.as_ref().expect("healthcheck");
    assert_eq!(
        hc.test,
        ["CMD-SHELL", "curl -f http://localhost/ || exit 1"]
    );
    assert_eq!(
        (
            hc.interval,
            hc.timeout,
            hc.start_period,
            hc.start_interval,
            hc.retries
        ),
        (30_000_000_000, 5_000_000_000, 90_000_000_000, 0, 3)
    );
    assert_eq!(cfg.cmd.as_deref(), Some(&["serve".to_string()][..]));
    let h = history(&c);
    assert_eq!(h[0], "ENV A=1 B=two words");
    assert!(h.contains(&"EXPOSE [53/udp 80/tcp 8000/tcp 8001/tcp 8002/tcp]".to_string()));
    assert!(h.contains(&"HEALTHCHECK {Test:[CMD-SHELL curl -f http://localhost/ || exit 1] Interval:30s Timeout:5s StartPeriod:1m30s StartInterval:0s Retries:3}".to_string()));
    // WORKDIR makes the directory, owned by the USER in effect; config-only entries have no layer.
    let workdir = c
        .history
        .iter()
        .find(|e| e.created_by == "WORKDIR /srv/sub")
        .expect("workdir");
    assert!(!workdir.empty_layer);
    assert!(c
        .history
        .iter()
        .find(|e| e.created_by == "STOPSIGNAL SIGQUIT")
        .is_some_and(|e| e.empty_layer));
    let mkdir = c.graph.vertices().find_map(|v| match &v.op {
        Op::File(f) => f.actions.iter().find_map(|a| match a {
            FileAction::Mkdir { path, owner, .. } if path == "/srv/sub" => owner.clone(),
            _ => None,
        }),
        _ => None,
    });
    assert_eq!(
        mkdir.map(|o| (o.user, o.group)),
        Some(("app".into(), Some("staff".into())))
    );

    // ENTRYPOINT in a stage clears the CMD it inherited.
    let child = target("metadata.Dockerfile", "child");
    assert_eq!(
        child.config.entrypoint.as_deref(),
        Some(&["/entry".to_string()][..])
    );
    assert_eq!(child.config.cmd, None);
    assert_eq!(child.config.env, c.config.env);
    let none = build("metadata.Dockerfile");
    assert_eq!(
        none.config.healthcheck.map(|h| h.test),
        Some(vec!["NONE".to_string()])
    );
}

#[test]
fn onbuild_triggers_run_first_in_stages_built_from_the_stage() {
    let base = target("onbuild.Dockerfile", "base");
    assert_eq!(
        base.config.on_build,
        [
            "RUN echo triggered",
            "COPY --from=assets /logo.png /static/"
        ]
    );
    let c = build("onbuild.Dockerfile");
    assert!(
        c.config.on_build.is_empty(),
        "triggers are not inherited further"
    );
    assert_eq!(
        history(&c),
        [
            "RUN /bin/sh -c echo triggered # buildkit",
            "COPY /logo.png /static/ # buildkit",
            "RUN /bin/sh -c echo after # buildkit"
        ]
    );
    // The triggers sit on the FROM line that inherited them, and their COPY --from pulls
    // in the `assets` stage.
    let trigger = c
        .graph
        .vertices()
        .find(|v| {
            v.origin
                .description
                .ends_with("] ONBUILD RUN echo triggered")
        })
        .expect("trigger vertex");
    assert_eq!(trigger.origin.start_line, 6);
    assert!(c
        .graph
        .vertices()
        .any(|v| matches!(&v.op, Op::Exec(e) if e.args[2] == "touch /logo.png")));
}

#[test]
fn arg_scoping() {
    let c = target("args.Dockerfile", "base");
    let first = exec_at(&c, 7);
    // Global ARGs are not in scope unless re-declared; re-declared ones take the global value.
    assert_eq!(env(&first, "GLOBAL_ONLY"), None);
    assert_eq!(env(&first, "REDECLARED").as_deref(), Some("from-global"));
    assert_eq!(env(&first, "STAGE_ARG").as_deref(), Some("stage"));
    assert_eq!(
        env(&exec_at(&c, 9), "TARGETARCH").as_deref(),
        Some(
            kiln_frontend::compile::platform::host_platform()
                .architecture
                .as_str()
        )
    );
    // ENV after an ARG of the same name wins.
    assert_eq!(
        env(&exec_at(&c, 11), "STAGE_ARG").as_deref(),
        Some("env-wins")
    );
    assert!(c.graph.vertices().any(|v| matches!(&v.op, Op::Source(Source::Image { reference, .. }) if reference == "docker.io/library/alpine:3.20")));

    let amd64 = CompileOptions {
        target_platform: Some(kiln_frontend::graph::Platform::new("linux", "amd64", None)),
        ..CompileOptions::default()
    };
    let child = build_with("args.Dockerfile", &amd64).unwrap();
    // ARGs are inherited by stages built FROM the stage; an ARG without value is not set.
    let inherited = exec_at(&child, 13);
    assert_eq!(
        env(&inherited, "REDECLARED").as_deref(),
        Some("from-global")
    );
    assert_eq!(env(&exec_at(&child, 15), "UNSET"), None);
    assert!(history(&child).contains(&"RUN |4 REDECLARED=from-global STAGE_ARG=env-wins TARGETARCH=amd64 UNSET= /bin/sh -c echo $UNSET # buildkit".to_string()));

    // --build-arg overrides defaults, in FROM and in stages.
    let mut build_args = BTreeMap::new();
    build_args.insert("STAGE_ARG".to_string(), "cli".to_string());
    build_args.insert("BASE_TAG".to_string(), "3.19".to_string());
    build_args.insert("GLOBAL_ONLY".to_string(), "ignored".to_string());
    let opts = CompileOptions {
        build_args,
        target: Some("base".into()),
        ..CompileOptions::default()
    };
    let o = build_with("args.Dockerfile", &opts).unwrap();
    assert_eq!(env(&exec_at(&o, 7), "STAGE_ARG").as_deref(), Some("cli"));
    assert_eq!(env(&exec_at(&o, 7), "GLOBAL_ONLY"), None);
    assert!(o.graph.vertices().any(|v| matches!(&v.op, Op::Source(Source::Image { reference, .. }) if reference == "docker.io/library/alpine:3.19")));
}

#[test]
fn stages_the_target_does_not_need_are_not_compiled() {
    // The `unused` stage has an invalid --chmod; it only matters when it is built.
    let c = build("pruning.Dockerfile");
    assert!(!c.graph.vertices().any(|v| v.origin.stage == "unused"));
    assert_eq!(c.graph.len(), 3, "image, RUN, COPY");
    let err = target("pruning.Dockerfile", "used");
    assert_eq!(err.graph.len(), 2);
    let e = build_with(
        "pruning.Dockerfile",
        &CompileOptions {
            target: Some("unused".into()),
            ..CompileOptions::default()
        },
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("invalid chmod parameter: '99999'"),
        "{e}"
    );
    assert!(e.to_string().contains("pruning.Dockerfile:5:"), "{e}");
    // An ARG of the unused stage changes nothing.
    let mut build_args = BTreeMap::new();
    build_args.insert("ONLY_IN_UNUSED".to_string(), "y".to_string());
    let with_arg = build_with(
        "pruning.Dockerfile",
        &CompileOptions {
            build_args,
            ..CompileOptions::default()
        },
    )
    .unwrap();
    assert_eq!(with_arg.root, c.root);
}
