//! Parses a generated 10,000-line Dockerfile (every instruction kind, continuations,
//! heredocs, comments) and converts it into typed stages; prints the time per pass.
//! Run with `cargo bench -p kiln-frontend --bench parse`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use kiln_frontend::instructions::from_parse_result;
use kiln_frontend::parser::parse;

/// A Dockerfile of about `lines` lines.
fn dockerfile(lines: usize) -> String {
    let mut out = String::from("# syntax=docker/dockerfile:1\nARG BASE=alpine:3.20\n");
    let mut stage = 0;
    while out.lines().count() < lines {
        out.push_str(&format!(
            "FROM --platform=$BUILDPLATFORM ${{BASE}} AS stage{stage}\n"
        ));
        out.push_str("# install the tools\n");
        out.push_str(
            "RUN --mount=type=cache,target=/var/cache/apk apk add \\\n    curl \\\n    git\n",
        );
        out.push_str("ENV PATH=/usr/local/bin:$PATH LANG=C.UTF-8\n");
        out.push_str("COPY --chown=1000:1000 --chmod=0755 [\"src dir\", \"/app/\"]\n");
        out.push_str("COPY <<-EOF /etc/motd\n\thello from stage\nEOF\n");
        out.push_str("RUN <<EOF\nset -e\necho building\nEOF\n");
        out.push_str("LABEL org.opencontainers.image.title=\"kiln bench\" version=1\n");
        out.push_str("WORKDIR /app\nUSER 1000:1000\nEXPOSE 8080/tcp 9090\n");
        out.push_str("HEALTHCHECK --interval=30s --timeout=3s CMD [\"/app/health\"]\n");
        out.push_str("ENTRYPOINT [\"/app/run\"]\nCMD [\"--serve\"]\n\n");
        stage += 1;
    }
    out
}

fn main() {
    let text = dockerfile(10_000);
    let lines = text.lines().count();
    // Warm up, and check the input is valid.
    let result = parse("Dockerfile", text.as_bytes()).expect("bench Dockerfile parses");
    let stages = from_parse_result("Dockerfile", text.as_bytes(), &result)
        .expect("bench Dockerfile converts");
    let budget = Duration::from_secs(3);
    let start = Instant::now();
    let mut passes = 0u32;
    while start.elapsed() < budget || passes < 5 {
        let result = parse("Dockerfile", black_box(text.as_bytes())).expect("parses");
        black_box(from_parse_result("Dockerfile", text.as_bytes(), &result).expect("converts"));
        passes += 1;
    }
    let per_pass = start.elapsed() / passes;
    println!(
        "parse+instructions: {lines} lines, {} instructions, {} stages: {per_pass:?} per pass ({passes} passes, {:.0} lines/ms)",
        result.nodes.len(),
        stages.stages.len(),
        lines as f64 / per_pass.as_secs_f64() / 1000.0
    );
}
