//! Printing a build graph for people and tools: JSON (`kiln debug graph`) and Graphviz DOT
//! (`--format dot`).

use std::fmt::Write as _;

use super::{Digest, Graph, Op, Source};

/// JSON: `{"root": digest, "vertices": [{digest, op, inputs, origin}, …]}`, inputs first.
pub fn to_json(graph: &Graph, root: Option<&Digest>) -> serde_json::Value {
    let vertices: Vec<_> = graph.vertices().collect();
    serde_json::json!({
        "root": root,
        "vertices": vertices,
    })
}

/// Graphviz DOT, one node per vertex labelled with its op, short digest and Dockerfile line;
/// edges point from an input to the vertex that uses it.
pub fn to_dot(graph: &Graph, root: Option<&Digest>) -> String {
    let mut out = String::from(
        "digraph kiln {\n  rankdir=BT;\n  node [shape=box, fontname=\"monospace\"];\n",
    );
    for v in graph.vertices() {
        let mut label = format!("{} {}", v.op.kind(), v.digest.short());
        let detail = summary(&v.op);
        if !detail.is_empty() {
            let _ = write!(label, "\\n{}", dot_escape(&detail));
        }
        if !v.origin.description.is_empty() {
            let _ = write!(
                label,
                "\\n{} (line {})",
                dot_escape(&v.origin.description),
                v.origin.start_line
            );
        }
        let style = if Some(&v.digest) == root {
            ", style=bold"
        } else {
            ""
        };
        let _ = writeln!(out, "  \"{}\" [label=\"{}\"{}];", v.digest, label, style);
        for input in &v.inputs {
            let _ = writeln!(out, "  \"{}\" -> \"{}\";", input, v.digest);
        }
    }
    out.push_str("}\n");
    out
}

fn summary(op: &Op) -> String {
    match op {
        Op::Source(Source::Image { reference, .. }) => format!("image {reference}"),
        Op::Source(Source::Local { name, .. }) => format!("local {name}"),
        Op::Source(Source::Scratch) => "scratch".into(),
        Op::Source(Source::Git { remote, .. }) => format!("git {remote}"),
        Op::Source(Source::Http { url, .. }) => format!("http {url}"),
        Op::Exec(e) => truncate(&e.args.join(" "), 60),
        Op::File(f) => format!("{} action(s)", f.actions.len()),
        Op::Merge => String::new(),
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max).collect();
    t.push('…');
    t
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Origin;

    #[test]
    fn dot_has_nodes_and_edges() {
        let mut g = Graph::new();
        let a = g
            .add(Op::Source(Source::Scratch), vec![], Origin::default())
            .unwrap();
        let b = g
            .add(Op::Merge, vec![a.clone()], Origin::default())
            .unwrap();
        let dot = to_dot(&g, Some(&b));
        assert!(dot.contains(&format!("\"{a}\" -> \"{b}\"")));
        assert!(dot.contains("style=bold"));
        let json = to_json(&g, Some(&b));
        assert_eq!(json["vertices"].as_array().map(Vec::len), Some(2));
    }
}
