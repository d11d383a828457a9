//! kiln's Dockerfile frontend: parsing, word expansion, lint checks, and compiling a
//! Dockerfile into kiln's build graph. It does no I/O besides what its caller hands it.
