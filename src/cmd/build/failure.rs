//! What a failed build tells the user: the failing step, its exit code and last output
//! lines (in the solver's error), the Dockerfile excerpt with the failing lines marked, and
//! the id of the last good state, stored as an image to start a shell in.

use std::fmt::Write as _;

use kiln_frontend::graph::{Graph, Origin};

/// Lines of context shown around the failing instruction.
const CONTEXT_LINES: usize = 2;

/// The Dockerfile excerpt around `origin`, failing lines marked with `>>>`.
pub fn excerpt(file_name: &str, dockerfile: &[u8], origin: &Origin) -> Option<String> {
    if origin.start_line == 0 {
        return None;
    }
    let text = String::from_utf8_lossy(dockerfile);
    let lines: Vec<&str> = text.lines().collect();
    let end = origin.end_line.max(origin.start_line);
    let first = origin.start_line.saturating_sub(CONTEXT_LINES).max(1);
    let last = (end + CONTEXT_LINES).min(lines.len());
    let mut out = String::new();
    let _ = writeln!(out, "{file_name}:{}", origin.start_line);
    let _ = writeln!(out, "--------------------");
    for n in first..=last {
        let line = lines.get(n - 1).copied().unwrap_or_default();
        let mark = if (origin.start_line..=end).contains(&n) {
            ">>>"
        } else {
            "   "
        };
        let _ = writeln!(out, " {n:>3} | {mark} {line}");
    }
    let _ = write!(out, "--------------------");
    Some(out)
}

/// The vertex whose result a shell should start in: the failed step's root input.
pub fn failed_input(
    graph: &Graph,
    failed: &kiln_frontend::graph::Digest,
) -> Option<kiln_frontend::graph::Digest> {
    graph.get(failed)?.inputs.first().cloned()
}

/// Prints why the build failed (with the Dockerfile excerpt) and keeps the state the
/// failed step started from as an image to debug; the exit code.
pub(super) fn report_failure(
    store: &kiln_cache::Store,
    solver: &kiln_solver::Solver<kiln_solver::local::LocalWorker>,
    graph: &Graph,
    input: &super::input::BuildInput,
    compiled: &kiln_frontend::compile::Compiled,
    e: &kiln_solver::SolveError,
) -> i32 {
    eprintln!("ERROR: failed to solve: {e}");
    let kiln_solver::SolveError::Step { vertex, .. } = e else {
        return super::BUILD_FAILED;
    };
    if let Some(v) = graph.get(vertex) {
        if let Some(x) = excerpt(&input.dockerfile_name, &input.dockerfile, &v.origin) {
            eprintln!("{x}");
        }
    }
    // Keep the state the failed step started from as an image, to debug it in a shell.
    let last_good = failed_input(graph, vertex).and_then(|d| solver.worker().result_of(&d));
    if let Some(chain) = last_good {
        let mut config = compiled.config.clone();
        config.user.clear();
        config.entrypoint = None;
        config.cmd = Some(vec!["sh".into()]);
        let meta = kiln_solver::local::export::ImageMeta {
            config,
            history: Vec::new(),
            platform: compiled.platform.clone(),
            created: super::now_secs(),
            source_date_epoch: None,
            base_history: Vec::new(),
        };
        match kiln_solver::local::export::write_image(store, &chain, &meta, &[]) {
            Ok(img) => eprintln!(
                "the state before the failing step is image {}; start a shell in it with: kiln run -it --rm {} sh",
                img.config_digest,
                img.config_digest.short()
            ),
            Err(err) => tracing::warn!("storing the last good state as an image: {err}"),
        }
    }
    super::BUILD_FAILED
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_the_failing_lines() {
        let df = b"FROM busybox\nRUN true\nRUN false \\\n  && x\nCMD sh\n";
        let origin = Origin {
            stage: "0".into(),
            start_line: 3,
            end_line: 4,
            description: "RUN false".into(),
        };
        let e = excerpt("Dockerfile", df, &origin).unwrap();
        assert!(e.contains("   3 | >>> RUN false \\"), "{e}");
        assert!(e.contains("   4 | >>>   && x"), "{e}");
        assert!(e.contains("   2 |     RUN true"), "{e}");
        assert!(e.starts_with("Dockerfile:3\n"));
    }
}
