//! kiln's build graph: a DAG of content-addressed [`Vertex`]es.
//!
//! A vertex's digest is the sha256 of the canonical JSON of its op together with the
//! digests of its inputs, so equal work has equal digests across runs, processes and
//! machines, and any semantic change gives a new digest. Vertices are added bottom-up with
//! [`Graph::add`] (inputs must already be in the graph), which deduplicates: adding the same
//! op over the same inputs twice returns the existing digest.
//!
//! API: [`Graph::new`], [`Graph::add`], [`Graph::get`], [`Graph::vertices`] (topological
//! order), [`Graph::reachable`], plus `render::to_json` / `render::to_dot`.

mod digest;
pub mod image;
pub mod op;
pub mod render;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use digest::Digest;
pub use image::{Empty, Healthcheck, HistoryEntry, ImageConfig};
pub use op::*;

/// Where in the Dockerfile a vertex came from, for progress, errors and `debug graph`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// Stage name, or its index when it has none.
    pub stage: String,
    /// 1-based first and last line of the instruction; 0 when not from a line.
    pub start_line: usize,
    pub end_line: usize,
    /// The instruction as shown in progress output (`RUN make`).
    pub description: String,
}

/// One node of the graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vertex {
    pub digest: Digest,
    pub op: Op,
    pub inputs: Vec<Digest>,
    /// Not part of the digest: the same step written on another line is the same work.
    pub origin: Origin,
}

/// The part of a vertex its digest is computed from.
#[derive(Serialize)]
struct Definition<'a> {
    op: &'a Op,
    inputs: &'a [Digest],
}

impl Vertex {
    /// Digest of an op over inputs, as [`Graph::add`] assigns it.
    pub fn digest_of(op: &Op, inputs: &[Digest]) -> Digest {
        Digest::of_json(&Definition { op, inputs })
    }

    /// Digest of the op alone, without its inputs: the first part of a cache key.
    pub fn op_digest(&self) -> Digest {
        Digest::of_json(&self.op)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GraphError {
    #[error("build graph: input {input} of a new vertex is not in the graph")]
    MissingInput { input: Digest },
}

/// A DAG of vertices, kept in insertion order (which is a topological order, because a
/// vertex can only be added after its inputs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Graph {
    order: Vec<Digest>,
    vertices: BTreeMap<Digest, Vertex>,
}

impl Graph {
    pub fn new() -> Graph {
        Graph::default()
    }

    /// Add `op` over `inputs` and return its digest. An identical vertex already present is
    /// reused (its first origin is kept).
    pub fn add(
        &mut self,
        op: Op,
        inputs: Vec<Digest>,
        origin: Origin,
    ) -> Result<Digest, GraphError> {
        if let Some(missing) = inputs.iter().find(|d| !self.vertices.contains_key(*d)) {
            return Err(GraphError::MissingInput {
                input: missing.clone(),
            });
        }
        let digest = Vertex::digest_of(&op, &inputs);
        if !self.vertices.contains_key(&digest) {
            self.order.push(digest.clone());
            self.vertices.insert(
                digest.clone(),
                Vertex {
                    digest: digest.clone(),
                    op,
                    inputs,
                    origin,
                },
            );
        }
        Ok(digest)
    }

    pub fn get(&self, digest: &Digest) -> Option<&Vertex> {
        self.vertices.get(digest)
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// All vertices, inputs before the vertices that use them.
    pub fn vertices(&self) -> impl Iterator<Item = &Vertex> {
        self.order.iter().filter_map(|d| self.vertices.get(d))
    }

    /// The digests `root` depends on, itself included.
    pub fn reachable(&self, root: &Digest) -> BTreeSet<Digest> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![root.clone()];
        while let Some(d) = stack.pop() {
            if let Some(v) = self.vertices.get(&d) {
                if seen.insert(d) {
                    stack.extend(v.inputs.iter().cloned());
                }
            }
        }
        seen
    }

    /// A copy holding only what `root` depends on, in the same order.
    pub fn pruned(&self, root: &Digest) -> Graph {
        let keep = self.reachable(root);
        Graph {
            order: self
                .order
                .iter()
                .filter(|d| keep.contains(*d))
                .cloned()
                .collect(),
            vertices: self
                .vertices
                .iter()
                .filter(|(d, _)| keep.contains(*d))
                .map(|(d, v)| (d.clone(), v.clone()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(reference: &str) -> Op {
        Op::Source(Source::Image {
            reference: reference.into(),
            platform: Platform::new("linux", "amd64", None),
        })
    }

    fn exec(args: &[&str]) -> Op {
        Op::Exec(Exec {
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec!["PATH=/bin".into()],
            cwd: "/".into(),
            user: None,
            network: NetworkMode::Default,
            security: SecurityMode::Sandbox,
            mounts: vec![],
            settings: Default::default(),
        })
    }

    #[test]
    fn identical_vertices_are_deduplicated() {
        let mut g = Graph::new();
        let a = g.add(image("busybox"), vec![], Origin::default()).unwrap();
        let b = g.add(image("busybox"), vec![], Origin::default()).unwrap();
        assert_eq!(a, b);
        assert_eq!(g.len(), 1);
    }

    #[test]
    fn digest_depends_on_op_and_inputs_but_not_origin() {
        let mut g = Graph::new();
        let base1 = g.add(image("a"), vec![], Origin::default()).unwrap();
        let base2 = g.add(image("b"), vec![], Origin::default()).unwrap();
        let r1 = g
            .add(exec(&["true"]), vec![base1.clone()], Origin::default())
            .unwrap();
        let r2 = g
            .add(exec(&["true"]), vec![base2], Origin::default())
            .unwrap();
        let r3 = g
            .add(exec(&["false"]), vec![base1.clone()], Origin::default())
            .unwrap();
        let origin = Origin {
            stage: "x".into(),
            start_line: 9,
            end_line: 9,
            description: "RUN true".into(),
        };
        let r4 = g.add(exec(&["true"]), vec![base1], origin).unwrap();
        assert_ne!(r1, r2);
        assert_ne!(r1, r3);
        assert_eq!(r1, r4);
    }

    #[test]
    fn digest_is_pinned() {
        // Guards against accidental changes of the canonical serialisation, which would
        // silently invalidate every cache. Update deliberately when the format changes.
        // The value is sha256 of `{"op":{"op":"source","type":"scratch"},"inputs":[]}`.
        let d = Vertex::digest_of(&Op::Source(Source::Scratch), &[]);
        assert_eq!(
            d.to_string(),
            "sha256:42d446c1a0bca7f07a4a493e712f5b48bd0959d30df4834459fd9d34a0068d60"
        );
    }

    #[test]
    fn missing_input_is_an_error() {
        let mut g = Graph::new();
        let ghost = Digest::of_json(&"ghost");
        let err = g.add(exec(&["true"]), vec![ghost.clone()], Origin::default());
        assert_eq!(err, Err(GraphError::MissingInput { input: ghost }));
    }

    #[test]
    fn pruning_keeps_only_dependencies() {
        let mut g = Graph::new();
        let a = g.add(image("a"), vec![], Origin::default()).unwrap();
        let b = g.add(image("b"), vec![], Origin::default()).unwrap();
        let ra = g
            .add(exec(&["x"]), vec![a.clone()], Origin::default())
            .unwrap();
        let _rb = g.add(exec(&["y"]), vec![b], Origin::default()).unwrap();
        let p = g.pruned(&ra);
        let kept: Vec<_> = p.vertices().map(|v| v.digest.clone()).collect();
        assert_eq!(kept, vec![a, ra]);
    }
}
