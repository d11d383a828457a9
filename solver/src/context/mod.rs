//! The build context as the solver sees it: which files a `COPY`/`ADD` selects (include
//! patterns, `.dockerignore` and `--exclude` patterns), and their checksums for cache keys,
//! computed from a walk that stats everything but re-hashes only files whose metadata
//! changed since the previous build.

pub mod checksum;
pub mod pattern;
pub mod select;

pub use checksum::{ChecksumCache, ContextChecksum};
pub use pattern::{Matcher, PatternError};
pub use select::{select, Entry, EntryKind, SelectError};
