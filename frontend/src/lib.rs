//! kiln's Dockerfile frontend: parsing, word expansion, lint checks, and compiling a
//! Dockerfile into kiln's build graph. It does no I/O besides what its caller hands it.
pub mod compile;
pub mod graph;
pub mod instructions;
pub mod lint;
pub mod parser;
pub mod paths;
pub mod shell;
