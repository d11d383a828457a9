//! kiln's store: content-addressed blobs, layers (diff, apply, tar, compression), snapshots,
//! image records and tags, cache records, leases, the metadata database and GC.

pub mod content;
pub mod db;
pub mod digest;
mod fsutil;
mod ingest;

pub use content::{BlobInfo, ContentError, ContentStore};
pub use db::{Db, DbError};
pub use digest::{Digest, DigestError};
pub use fsutil::disk_usage;
pub mod image;
pub mod layer;
pub mod reference;
pub mod store;

pub use image::records::ImageRecord;
pub use reference::Reference;
pub use store::{Store, StoreError};
pub mod archive;
pub mod cache_record;
pub mod check;
pub mod commit;
pub mod df;
pub mod gc;
pub mod lease;
pub mod prehashed;
pub mod snapshot;
