//! The image model: OCI/Docker documents (`spec`), timestamps (`time`) and the image records
//! kept in the metadata database (`records`).

pub mod events;
pub mod records;
pub mod spec;
pub mod time;
