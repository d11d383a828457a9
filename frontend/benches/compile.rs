//! Parses and compiles a generated 10,000-line Dockerfile and prints the time each
//! takes (median of several runs). Run with `cargo bench -p kiln-frontend`.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use kiln_frontend::compile::{compile, CompileOptions, NoImages};

const LINES: usize = 10_000;
const RUNS: usize = 7;

/// A many-stage Dockerfile using every kind of instruction, `LINES` lines long.
fn generate() -> String {
    let mut s = String::from("# syntax=docker/dockerfile:1\nARG BASE=alpine:3.20\n");
    let mut stage = 0;
    while s.lines().count() < LINES {
        let _ = writeln!(s, "FROM $BASE AS s{stage}");
        let _ = writeln!(s, "ARG VERSION_{stage}=1.{stage}");
        for i in 0..12 {
            let _ = writeln!(
                s,
                "ENV VAR_{i}=value-{stage}-{i} PATH=/opt/s{stage}/bin:$PATH"
            );
            let _ = writeln!(s, "WORKDIR /work/s{stage}/d{i}");
            let _ = writeln!(s, "COPY --chown=1000:1000 src/{stage}/{i}/ ./");
            let _ = writeln!(s, "RUN --mount=type=cache,target=/root/.cache make -C /work VERSION=$VERSION_{stage} step={i}");
            let _ = writeln!(s, "LABEL stage{stage}.step{i}=\"${{VAR_{i}}}\"");
            let _ = writeln!(s, "EXPOSE {}/tcp", 1000 + i);
        }
        if stage > 0 {
            let _ = writeln!(s, "COPY --from=s{} /work /prev", stage - 1);
        }
        let _ = writeln!(s, "RUN <<EOF\nset -e\necho stage {stage}\nEOF");
        let _ = writeln!(s, "CMD [\"/bin/app\", \"{stage}\"]");
        stage += 1;
    }
    s
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let text = generate();
    let lines = text.lines().count();
    let data = text.as_bytes();
    let mut parse_times = Vec::new();
    let mut compile_times = Vec::new();
    let mut vertices = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        let parsed = kiln_frontend::instructions::parse_dockerfile("Dockerfile", data)
            .expect("generated Dockerfile parses");
        parse_times.push(t.elapsed());
        std::hint::black_box(parsed);
        let t = Instant::now();
        let compiled = compile("Dockerfile", data, &CompileOptions::default(), &NoImages)
            .expect("generated Dockerfile compiles");
        compile_times.push(t.elapsed());
        vertices = compiled.graph.len();
    }
    let p = median(parse_times);
    let c = median(compile_times);
    println!(
        "dockerfile: {lines} lines, {} bytes, {vertices} vertices in the target's graph",
        data.len()
    );
    println!(
        "parse (parser + typed instructions): {:.2} ms",
        p.as_secs_f64() * 1e3
    );
    println!(
        "parse + compile (incl. lint checks):  {:.2} ms ({:.0} lines/s)",
        c.as_secs_f64() * 1e3,
        lines as f64 / c.as_secs_f64()
    );
}
