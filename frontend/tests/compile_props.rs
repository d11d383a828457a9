//! Properties of the compiler and linter on generated Dockerfiles: they never panic
//! (every outcome is a graph or an error), and compiling twice gives the same digests.

use kiln_frontend::compile::{compile, CompileOptions, NoImages};
use kiln_frontend::lint::lint;
use proptest::prelude::*;

/// Instruction lines, well-formed and not, with variables, stage references and flags.
fn line() -> impl Strategy<Value = String> {
    let word = "[a-zA-Z0-9_./$:{}=-]{0,12}";
    prop_oneof![
        word.prop_map(|w| format!("FROM {w}")),
        (word, word).prop_map(|(a, b)| format!("FROM {a} AS {b}")),
        word.prop_map(|w| format!("FROM --platform={w} alpine")),
        word.prop_map(|w| format!("ARG {w}")),
        (word, word).prop_map(|(a, b)| format!("ENV {a}={b}")),
        (word, word).prop_map(|(a, b)| format!("ENV {a} {b}")),
        word.prop_map(|w| format!("RUN echo {w}")),
        word.prop_map(|w| format!("RUN --mount={w} true")),
        word.prop_map(|w| format!("RUN --mount=type=bind,from={w},target=/m true")),
        (word, word).prop_map(|(a, b)| format!("COPY --from={a} {b} /dst")),
        (word, word).prop_map(|(a, b)| format!("COPY --chmod={a} {b} ./")),
        word.prop_map(|w| format!("ADD {w} /d/")),
        word.prop_map(|w| format!("WORKDIR {w}")),
        word.prop_map(|w| format!("USER {w}")),
        word.prop_map(|w| format!("EXPOSE {w}")),
        word.prop_map(|w| format!("VOLUME {w}")),
        word.prop_map(|w| format!("STOPSIGNAL {w}")),
        word.prop_map(|w| format!("LABEL {w}=x")),
        word.prop_map(|w| format!("CMD {w}")),
        word.prop_map(|w| format!("ENTRYPOINT [\"{w}\"]")),
        word.prop_map(|w| format!("ONBUILD RUN {w}")),
        word.prop_map(|w| format!("HEALTHCHECK --interval={w} CMD true")),
        Just("SHELL [\"/bin/bash\", \"-c\"]".to_string()),
        Just("RUN <<EOF\necho hi\nEOF".to_string()),
        Just("COPY <<EOF /x\n$HOME\nEOF".to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn compile_and_lint_never_panic_and_are_deterministic(lines in prop::collection::vec(line(), 1..25), target in prop::option::of("[a-z]{1,3}")) {
        let src = lines.join("\n");
        let opts = CompileOptions { target, ..CompileOptions::default() };
        let first = compile("Dockerfile", src.as_bytes(), &opts, &NoImages);
        let second = compile("Dockerfile", src.as_bytes(), &opts, &NoImages);
        match (first, second) {
            (Ok(a), Ok(b)) => {
                prop_assert_eq!(&a.root, &b.root);
                prop_assert!(a.graph.get(&a.root).is_some());
                prop_assert_eq!(a.config, b.config);
            }
            (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
            _ => prop_assert!(false, "compiling twice gave different outcomes"),
        }
        let _ = lint("Dockerfile", src.as_bytes(), &opts, &NoImages);
    }
}
