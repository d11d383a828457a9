//! COPY/ADD sources (build context, stages, images, URLs, git, heredocs, --link) and
//! RUN mounts, on the fixtures in `testdata/frontend/compile/`.

mod common;

use common::{build, execs_at, history, vertex};
use kiln_frontend::compile::{compile, CompileOptions, NoImages};
use kiln_frontend::graph::{FileAction, MountKind, NetworkMode, Op, SecurityMode, Source};

#[test]
fn copy_and_add_sources() {
    let c = build("copy.Dockerfile");
    let locals: Vec<Vec<String>> = c
        .graph
        .vertices()
        .filter_map(|v| match &v.op {
            Op::Source(Source::Local { name, include, .. }) if name == "context" => {
                Some(include.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        locals,
        [
            vec!["go.mod".to_string(), "go.sum".into()],
            vec!["src".into()],
            vec!["docs/guide".into()],
            vec![],
            vec!["local.tar".into()]
        ]
    );
    let copies: Vec<_> = c
        .graph
        .vertices()
        .filter_map(|v| match &v.op {
            Op::File(f) => Some(
                f.actions
                    .iter()
                    .filter_map(|a| match a {
                        FileAction::Copy(c) => Some(c.clone()),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .flatten()
        .collect();
    let gomod = &copies[0];
    assert_eq!(
        (gomod.src.as_str(), gomod.dest.as_str(), gomod.mode),
        ("/go.mod", "/app/", Some(0o644))
    );
    assert_eq!(
        gomod
            .owner
            .as_ref()
            .map(|o| (o.user.as_str(), o.group.as_deref())),
        Some(("1000", Some("1000")))
    );
    let parents = copies.iter().find(|c| c.parents).expect("--parents copy");
    assert_eq!(
        (parents.src.as_str(), parents.exclude.as_slice()),
        ("/docs/./guide", &["*.md".to_string()][..])
    );
    assert!(
        copies
            .iter()
            .any(|c| c.src == "/local.tar" && c.unpack_archives),
        "ADD unpacks local archives"
    );
    assert!(
        copies
            .iter()
            .any(|c| c.src == "/archive.tar.gz" && !c.unpack_archives),
        "ADD does not unpack URLs"
    );
    // --link copies onto scratch and merges.
    let merge = c
        .graph
        .vertices()
        .find(|v| matches!(v.op, Op::Merge))
        .expect("merge");
    assert_eq!(merge.origin.start_line, 4);
    let layer = vertex(&c, merge.inputs[1].as_str());
    assert!(matches!(
        vertex(&c, layer.inputs[0].as_str()).op,
        Op::Source(Source::Scratch)
    ));
    // ADD from URLs and git.
    assert!(c.graph.vertices().any(
        |v| matches!(&v.op, Op::Source(Source::Http { url, checksum: Some(sum), .. })
        if url == "https://example.com/x.bin" && sum.starts_with("sha256:2445"))
    ));
    assert!(c.graph.vertices().any(|v| matches!(&v.op, Op::Source(Source::Git { remote, reference: Some(r), subdir: Some(s), .. })
        if remote == "https://github.com/moby/buildkit.git" && r == "v0.12.0" && s == "docs")));
    assert!(c.graph.vertices().any(|v| matches!(&v.op, Op::Source(Source::Image { reference, .. }) if reference == "docker.io/library/busybox:1.36")));
    assert_eq!(
        history(&c)[1],
        "COPY --chown=1000:1000 --chmod=644 go.mod go.sum ./ # buildkit"
    );
}

#[test]
fn copy_errors() {
    for (src, needle) in [
        (
            "FROM a\nCOPY https://example.com/x /x\n",
            "source can't be a URL for COPY",
        ),
        (
            "FROM a\nADD --checksum=sha256:00 a b /d/\n",
            "checksum can't be specified for multiple sources",
        ),
        (
            "FROM a\nADD --checksum=sha256:00 local /d\n",
            "checksum requires HTTP(S) or Git sources",
        ),
        (
            "FROM a\nCOPY --chmod=u+x a /b\n",
            "invalid chmod parameter: 'u+x'",
        ),
    ] {
        let e = compile(
            "Dockerfile",
            src.as_bytes(),
            &CompileOptions::default(),
            &NoImages,
        )
        .unwrap_err();
        assert!(e.to_string().contains(needle), "{src:?}: {e}");
        assert!(e.to_string().contains("Dockerfile:2:"), "{e}");
    }
}

#[test]
fn run_mounts() {
    let c = build("mounts.Dockerfile");
    let (exec, inputs) = execs_at(&c, 6).remove(0);
    assert_eq!(exec.cwd, "/src");
    assert_eq!(
        (exec.network, exec.security),
        (NetworkMode::None, SecurityMode::Insecure)
    );
    let m = &exec.mounts;
    assert_eq!(m.len(), 6);
    assert!(
        matches!(&m[0].kind, MountKind::Cache { id, sharing, .. } if id == "gomod" && *sharing == kiln_frontend::graph::CacheSharing::Locked)
    );
    assert_eq!(
        (m[0].target.as_str(), m[0].input, m[0].readonly),
        ("/root/.cache", None, false)
    );
    // A bind from a stage: relative target under the workdir, the stage's result as input.
    assert_eq!(
        (m[1].target.as_str(), m[1].selector.as_str(), m[1].readonly),
        ("/src/deps", "/deps", true)
    );
    let deps = vertex(&c, &inputs[m[1].input.unwrap()]);
    assert!(matches!(&deps.op, Op::Exec(e) if e.args[2] == "touch /deps"));
    // A bind from the context reads only its source.
    let ctx = vertex(&c, &inputs[m[2].input.unwrap()]);
    assert!(
        matches!(&ctx.op, Op::Source(Source::Local { include, .. }) if include == &["go.mod".to_string()])
    );
    assert!(matches!(
        m[3].kind,
        MountKind::Tmpfs {
            size: Some(67_108_864)
        }
    ));
    assert!(
        matches!(&m[4].kind, MountKind::Secret { id, env: Some(e), mode: 0o400, .. } if id == "token" && e == "TOKEN")
    );
    assert!(matches!(&m[5].kind, MountKind::Ssh { id, .. } if id == "default"));
    assert_eq!(m[5].target, "/run/buildkit/ssh_agent.0");
}
