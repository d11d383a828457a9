//! Typed instructions and stages from Dockerfile text.

use kiln_frontend::instructions::{
    parse_dockerfile, ArgDef, CommandLine, DockerfileError, Healthcheck, Instruction,
    InstructionError, KeyValue, NetworkMode, SecurityMode,
};

fn instructions(src: &str) -> Vec<Instruction> {
    let df = parse_dockerfile("Dockerfile", src.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    df.stages
        .iter()
        .flat_map(|s| {
            std::iter::once(s.from.instruction.clone())
                .chain(s.commands.iter().map(|c| c.instruction.clone()))
        })
        .collect()
}

fn error(src: &str) -> InstructionError {
    match parse_dockerfile("Dockerfile", src.as_bytes()) {
        Err(DockerfileError::Instruction(e)) => e,
        other => panic!("expected an instruction error, got {other:?}"),
    }
}

#[test]
fn stages_meta_args_and_names() {
    let src = "ARG BASE=alpine\nARG V\nFROM --platform=$BUILDPLATFORM $BASE AS Build\nRUN make\nfrom build as final\nCOPY --from=Build /out /\n";
    let df = parse_dockerfile("Dockerfile", src.as_bytes()).expect("parses");
    let defs: Vec<_> = df.meta_arg_defs().cloned().collect();
    assert_eq!(
        defs,
        [
            ArgDef {
                name: "BASE".into(),
                default: Some("alpine".into())
            },
            ArgDef {
                name: "V".into(),
                default: None
            }
        ]
    );
    assert_eq!(df.stages.len(), 2);
    let s0 = &df.stages[0];
    assert_eq!(
        (s0.name.as_deref(), s0.name_as_written.as_deref()),
        (Some("build"), Some("Build"))
    );
    assert_eq!(
        (s0.base.as_str(), s0.platform.as_deref(), s0.line),
        ("$BASE", Some("$BUILDPLATFORM"), 3)
    );
    assert_eq!(s0.commands.len(), 1);
    assert_eq!(df.stage("BUILD").map(|(i, _)| i), Some(0));
    assert_eq!(df.stage("1").map(|(_, s)| s.base.as_str()), Some("build"));
    match &df.stages[1].from.instruction {
        Instruction::From(f) => assert_eq!(f.as_keyword.as_deref(), Some("as")),
        other => panic!("{other:?}"),
    }
    match &df.stages[1].commands[0].instruction {
        Instruction::Copy(c) => assert_eq!(c.from.as_deref(), Some("Build")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn run_forms_flags_and_heredocs() {
    let src = "FROM a\nRUN --mount=type=cache,target=/c --network=none --security=insecure echo hi\nRUN [\"ls\", \"-l\"]\nRUN <<-EOF bash\n\techo x\nEOF\n";
    let ins = instructions(src);
    let Instruction::Run(r) = &ins[1] else {
        panic!("{:?}", ins[1])
    };
    assert_eq!(r.cmd, CommandLine::Shell("echo hi".into()));
    assert_eq!(r.mounts, ["type=cache,target=/c"]);
    assert_eq!(
        (r.network, r.security),
        (NetworkMode::None, SecurityMode::Insecure)
    );
    assert_eq!(r.flags_used, ["mount", "network", "security"]);
    let Instruction::Run(r) = &ins[2] else {
        panic!()
    };
    assert_eq!(r.cmd, CommandLine::Exec(vec!["ls".into(), "-l".into()]));
    assert_eq!(
        (r.network, r.security),
        (NetworkMode::Default, SecurityMode::Sandbox)
    );
    let Instruction::Run(r) = &ins[3] else {
        panic!()
    };
    assert_eq!(r.cmd, CommandLine::Shell("<<-EOF bash".into()));
    assert_eq!(r.heredocs[0].content, "\techo x\n");
    assert!(r.heredocs[0].chomp && r.heredocs[0].expand);
}

#[test]
fn copy_and_add_options() {
    let src = "FROM a\nCOPY --chown=1:1 --chmod=0755 --link --parents --exclude=*.md --exclude=x a b /d/\nADD --checksum=sha256:abc --keep-git-dir --unpack=false https://x/y.tgz /\nCOPY <<-one <<'two' /etc/\n\thello $X\none\nraw $X\ntwo\n";
    let ins = instructions(src);
    let Instruction::Copy(c) = &ins[1] else {
        panic!()
    };
    assert_eq!(
        (c.sources.clone(), c.dest.as_str()),
        (vec!["a".to_string(), "b".to_string()], "/d/")
    );
    assert_eq!(
        (c.chown.as_deref(), c.chmod.as_deref()),
        (Some("1:1"), Some("0755"))
    );
    assert!(c.link && c.parents);
    assert_eq!(c.exclude, ["*.md", "x"]);
    let Instruction::Add(a) = &ins[2] else {
        panic!()
    };
    assert_eq!(a.checksum.as_deref(), Some("sha256:abc"));
    assert_eq!((a.keep_git_dir, a.unpack), (Some(true), Some(false)));
    let Instruction::Copy(h) = &ins[3] else {
        panic!()
    };
    assert!(h.sources.is_empty());
    let files: Vec<_> = h
        .heredocs
        .iter()
        .map(|f| (f.name.as_str(), f.content.as_str(), f.expand))
        .collect();
    assert_eq!(
        files,
        [("one", "hello $X\n", true), ("two", "raw $X\n", false)]
    );
}

#[test]
fn metadata_instructions() {
    let src = "FROM a\nENV A=1 B=\"two words\"\nENV C legacy value\nLABEL x=y\nARG P Q=1\nEXPOSE 8080/udp 80\nVOLUME [\"/v\", \"/w\"]\nWORKDIR /app\nUSER 1000:1000\nSTOPSIGNAL SIGTERM\nSHELL [\"/bin/bash\", \"-c\"]\nCMD [\"serve\"]\nENTRYPOINT []\nMAINTAINER me\nONBUILD RUN echo $X\n";
    let ins = instructions(src);
    assert_eq!(
        ins[1],
        Instruction::Env(vec![
            KeyValue {
                key: "A".into(),
                value: "1".into(),
                legacy: false
            },
            KeyValue {
                key: "B".into(),
                value: "\"two words\"".into(),
                legacy: false
            },
        ])
    );
    assert_eq!(
        ins[2],
        Instruction::Env(vec![KeyValue {
            key: "C".into(),
            value: "legacy value".into(),
            legacy: true
        }])
    );
    assert!(matches!(&ins[3], Instruction::Label(l) if l[0].key == "x"));
    assert!(
        matches!(&ins[4], Instruction::Arg(a) if a.len() == 2 && a[1].default.as_deref() == Some("1"))
    );
    assert_eq!(
        ins[5],
        Instruction::Expose(vec!["80".into(), "8080/udp".into()])
    );
    assert_eq!(ins[6], Instruction::Volume(vec!["/v".into(), "/w".into()]));
    assert_eq!(ins[7], Instruction::Workdir("/app".into()));
    assert_eq!(ins[8], Instruction::User("1000:1000".into()));
    assert_eq!(ins[9], Instruction::StopSignal("SIGTERM".into()));
    assert_eq!(
        ins[10],
        Instruction::Shell(vec!["/bin/bash".into(), "-c".into()])
    );
    assert_eq!(
        ins[11],
        Instruction::Cmd(CommandLine::Exec(vec!["serve".into()]))
    );
    assert_eq!(ins[12], Instruction::Entrypoint(CommandLine::Exec(vec![])));
    assert_eq!(ins[13], Instruction::Maintainer("me".into()));
    assert_eq!(ins[14], Instruction::OnBuild("RUN echo $X".into()));
}

#[test]
fn healthcheck_forms() {
    let src = "FROM a\nHEALTHCHECK NONE\nHEALTHCHECK --interval=5s --timeout=1m30s --start-period=0s --retries=3 CMD curl -f http://x/\nHEALTHCHECK CMD [\"/check\"]\n";
    let ins = instructions(src);
    assert_eq!(ins[1], Instruction::Healthcheck(Healthcheck::None));
    assert_eq!(
        ins[2],
        Instruction::Healthcheck(Healthcheck::Cmd {
            test: CommandLine::Shell("curl -f http://x/".into()),
            interval: 5_000_000_000,
            timeout: 90_000_000_000,
            start_period: 0,
            start_interval: 0,
            retries: 3,
        })
    );
    assert!(
        matches!(&ins[3], Instruction::Healthcheck(Healthcheck::Cmd { test: CommandLine::Exec(t), .. }) if t == &["/check"])
    );
}

#[test]
fn onbuild_with_heredoc_keeps_the_body() {
    let ins = instructions("FROM a\nonbuild RUN <<EOF\necho hi\nEOF\n");
    assert_eq!(
        ins[1],
        Instruction::OnBuild("RUN <<EOF\necho hi\nEOF".into())
    );
}

#[test]
fn unknown_instruction_suggests_nearest() {
    let e = error("FROM a\nFORM b\n");
    let text = e.to_string();
    assert!(
        text.starts_with("Dockerfile:2:1: unknown instruction: FORM (did you mean `FROM`?)"),
        "{text}"
    );
    assert!(text.contains("  2 | FORM b\n    | ^"), "{text}");
    assert!(matches!(
        error("FROM a\nXYZZY b\n"),
        InstructionError::UnknownInstruction {
            suggestion: None,
            ..
        }
    ));
}

#[test]
fn unknown_flag_names_the_line() {
    let e = error("FROM a\nRUN true\nCOPY --chmwn=1 a b\n");
    let text = e.to_string();
    assert!(
        text.starts_with("Dockerfile:3:6: unknown flag: --chmwn (did you mean `--chown`?)"),
        "{text}"
    );
    assert!(
        text.contains("expected: one of COPY's flags: --chown, --chmod"),
        "{text}"
    );
    assert!(matches!(
        error("FROM a\nADD --from=x a b\n"),
        InstructionError::UnknownFlag { .. }
    ));
    assert!(matches!(
        error("FROM a\nENV --x=1 A=b\n"),
        InstructionError::UnknownFlag { .. }
    ));
}

#[test]
fn flag_value_errors() {
    for (src, needle) in [
        (
            "FROM a\nCOPY --link=maybe a b\n",
            "expecting boolean value for flag --link, not: maybe",
        ),
        (
            "FROM a\nCOPY --from a b\n",
            "missing a value on flag: --from",
        ),
        (
            "FROM a\nCOPY --from=x --from=y a b\n",
            "duplicate flag specified: --from",
        ),
        (
            "FROM a\nRUN --network=bridge x\n",
            "invalid network mode \"bridge\"",
        ),
        (
            "FROM a\nRUN --security=root x\n",
            "security \"root\" is not valid",
        ),
        (
            "FROM a\nRUN --mount=from=$X,target=/x x\n",
            "'from' doesn't support variable expansion",
        ),
        (
            "FROM a\nHEALTHCHECK --interval=10 CMD x\n",
            "missing unit in duration",
        ),
        (
            "FROM a\nHEALTHCHECK --interval=10us CMD x\n",
            "cannot be less than 1ms",
        ),
        (
            "FROM a\nHEALTHCHECK --retries=-1 CMD x\n",
            "--retries cannot be negative (-1)",
        ),
    ] {
        let text = error(src).to_string();
        assert!(text.contains(needle), "{src:?}: {text}");
        assert!(text.starts_with("Dockerfile:2:"), "{text}");
    }
}

#[test]
fn argument_errors() {
    for (src, needle) in [
        ("RUN x\n", "no build stage in current context"),
        ("FROM a b\n", "FROM requires either one or three arguments"),
        ("FROM a AS 1st\n", "invalid name for build stage: \"1st\""),
        (
            "FROM a\nCOPY onlyone\n",
            "COPY requires at least two arguments",
        ),
        (
            "FROM a\nCOPY a <<EOF\nx\nEOF\n",
            "COPY cannot accept a heredoc as a destination",
        ),
        ("FROM a\nWORKDIR\n", "WORKDIR requires exactly one argument"),
        (
            "FROM a\nSHELL bash -c\n",
            "SHELL requires the arguments to be in JSON form",
        ),
        ("FROM a\nSHELL []\n", "SHELL requires at least one argument"),
        (
            "FROM a\nHEALTHCHECK NONE x\n",
            "HEALTHCHECK NONE takes no arguments",
        ),
        (
            "FROM a\nHEALTHCHECK PING x\n",
            "Unknown type \"PING\" in HEALTHCHECK (try CMD)",
        ),
        (
            "FROM a\nHEALTHCHECK CMD\n",
            "Missing command after HEALTHCHECK CMD",
        ),
        (
            "FROM a\nONBUILD ONBUILD RUN x\n",
            "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
        ),
        (
            "FROM a\nONBUILD FROM x\n",
            "FROM isn't allowed as an ONBUILD trigger",
        ),
        ("FROM a\nONBUILD FORM x\n", "unknown instruction: FORM"),
        ("FROM a\nARG =x\n", "ARG names can not be blank"),
        (
            "FROM a\nVOLUME [\"\"]\n",
            "VOLUME specified can not be an empty string",
        ),
        ("FROM a\nEXPOSE\n", "EXPOSE requires at least one argument"),
        ("FROM a\nENV\n", "ENV requires at least one argument"),
        ("FROM a\nLABEL =x\n", "LABEL names can not be blank"),
    ] {
        let text = error(src).to_string();
        assert!(text.contains(needle), "{src:?}: {text}");
        assert!(text.contains("\nexpected: "), "{text}");
    }
}

#[test]
fn env_path_without_value_is_a_parse_error() {
    match parse_dockerfile("Dockerfile", b"FROM busybox\nENV PATH\n") {
        Err(DockerfileError::Parse(e)) => {
            assert!(e.to_string().contains("ENV must have two arguments"))
        }
        other => panic!("{other:?}"),
    }
}
