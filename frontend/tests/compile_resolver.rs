//! Base images through an `ImageResolver`: their ENV, WORKDIR, USER and ONBUILD triggers
//! flow into the stage; a digest pins the reference; failures are errors at the FROM.

use std::cell::RefCell;

use kiln_frontend::compile::{
    compile, CompileError, CompileOptions, ImageResolver, ResolveError, ResolvedImage,
};
use kiln_frontend::graph::{HistoryEntry, ImageConfig, Op, Platform, Source};

/// Knows one image; records what it was asked.
struct OneImage {
    reference: &'static str,
    image: ResolvedImage,
    asked: RefCell<Vec<(String, String)>>,
}

impl ImageResolver for OneImage {
    fn resolve(
        &self,
        reference: &str,
        platform: &Platform,
    ) -> Result<Option<ResolvedImage>, ResolveError> {
        self.asked
            .borrow_mut()
            .push((reference.to_string(), platform.to_string()));
        if reference == self.reference {
            Ok(Some(self.image.clone()))
        } else {
            Err(ResolveError {
                message: format!("{reference}: not found"),
            })
        }
    }
}

fn base_image() -> OneImage {
    OneImage {
        reference: "docker.io/library/base:1",
        image: ResolvedImage {
            config: ImageConfig {
                env: vec!["PATH=/opt/bin:/bin".into(), "FOO=bar".into()],
                working_dir: "/work".into(),
                user: "nobody".into(),
                cmd: Some(vec!["base-cmd".into()]),
                on_build: vec!["RUN echo from-base".into(), "ENV TRIGGERED=yes".into()],
                ..ImageConfig::default()
            },
            history: vec![HistoryEntry {
                created_by: "base layer".into(),
                ..HistoryEntry::default()
            }],
            digest: Some(
                "sha256:1111111111111111111111111111111111111111111111111111111111111111".into(),
            ),
            empty: false,
        },
        asked: RefCell::new(Vec::new()),
    }
}

#[test]
fn base_image_config_flows_into_the_stage() {
    let resolver = base_image();
    let c = compile(
        "Dockerfile",
        b"FROM base:1\nRUN make\n",
        &CompileOptions::default(),
        &resolver,
    )
    .unwrap();
    let execs: Vec<_> = c
        .graph
        .vertices()
        .filter_map(|v| match &v.op {
            Op::Exec(e) => Some((e.clone(), v.origin.start_line)),
            _ => None,
        })
        .collect();
    // The base's ONBUILD triggers run first, on the FROM line.
    assert_eq!(execs[0].0.args[2], "echo from-base");
    assert_eq!(execs[0].1, 1);
    let make = &execs[1].0;
    assert_eq!(make.args[2], "make");
    assert!(
        make.env.contains(&"FOO=bar".to_string())
            && make.env.contains(&"TRIGGERED=yes".to_string()),
        "{:?}",
        make.env
    );
    assert!(make.env.contains(&"PATH=/opt/bin:/bin".to_string()));
    assert_eq!(
        (make.cwd.as_str(), make.user.as_deref()),
        ("/work", Some("nobody"))
    );
    assert!(c.graph.vertices().any(|v| matches!(&v.op, Op::Source(Source::Image { reference, .. })
        if reference == "docker.io/library/base:1@sha256:1111111111111111111111111111111111111111111111111111111111111111")));
    // Config inherited, triggers consumed; history continues the base's.
    assert_eq!(c.config.cmd.as_deref(), Some(&["base-cmd".to_string()][..]));
    assert!(c.config.on_build.is_empty());
    assert_eq!(c.history[0].created_by, "base layer");
    assert_eq!(
        c.history[1].created_by,
        "RUN /bin/sh -c echo from-base # buildkit"
    );
    assert_eq!(
        resolver.asked.borrow().as_slice(),
        [(
            "docker.io/library/base:1".to_string(),
            kiln_frontend::compile::platform::host_platform().to_string()
        )]
    );
}

#[test]
fn relative_workdir_is_relative_to_the_image_workdir() {
    let c = compile(
        "Dockerfile",
        b"FROM base:1\nWORKDIR sub\n",
        &CompileOptions::default(),
        &base_image(),
    )
    .unwrap();
    assert_eq!(c.config.working_dir, "/work/sub");
    assert!(c
        .warnings
        .iter()
        .any(|w| w.rule.name() == "WorkdirRelativePath"));
}

#[test]
fn only_needed_stages_are_resolved() {
    let resolver = base_image();
    let src = b"FROM unknown:1 AS unused\nFROM base:1\n";
    compile("Dockerfile", src, &CompileOptions::default(), &resolver).unwrap();
    assert_eq!(resolver.asked.borrow().len(), 1);
    let opts = CompileOptions {
        target: Some("unused".into()),
        ..CompileOptions::default()
    };
    let e = compile("Dockerfile", src, &opts, &resolver).unwrap_err();
    assert!(matches!(e, CompileError::Resolve { .. }), "{e}");
    assert!(
        e.to_string().contains("Dockerfile:1:") && e.to_string().contains("not found"),
        "{e}"
    );
}

#[test]
fn empty_images_start_from_scratch() {
    let mut resolver = base_image();
    resolver.image.empty = true;
    resolver.image.config.on_build.clear();
    let c = compile(
        "Dockerfile",
        b"FROM base:1\nRUN x\n",
        &CompileOptions::default(),
        &resolver,
    )
    .unwrap();
    assert!(c
        .graph
        .vertices()
        .any(|v| matches!(v.op, Op::Source(Source::Scratch))));
    assert!(!c
        .graph
        .vertices()
        .any(|v| matches!(v.op, Op::Source(Source::Image { .. }))));
}
